// TcpStream and Listener on loopback in one loop: accept, echo, backpressure, connect
// errors reported from the loop, abandoning, and a clean loop at the end.
#include "net/tcp_stream.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "net/address.h"
#include "net/listener.h"

namespace im::net {
namespace {

// Echoes whatever it reads; once the peer has ended and every byte is out, closes (the
// close sends our FIN).
class Echo final : public Stream::Handler {
 public:
  explicit Echo(TcpStream* s) : stream(s) { s->SetHandler(this); }
  void OnStreamRead(std::string_view bytes) override {
    stream->Write(bytes);
    if (stream->write_queue_bytes() > 0) stream->ReadStop();  // backpressure
  }
  void OnStreamDrained() override {
    if (eof) return stream->Close();
    stream->ReadStart();
  }
  void OnStreamEof() override {
    eof = true;
    if (stream->write_queue_bytes() == 0) stream->Close();
  }
  void OnStreamError(int) override { stream->Close(); }
  void OnStreamClosed() override { delete this; }
  TcpStream* stream;
  bool eof = false;
};

class Server final : public Listener::Owner {
 public:
  explicit Server(uv_loop_t* loop) : listener(loop, *this) {}
  void OnIncoming() override {
    if (TcpStream* s = TcpStream::Accept(listener.stream(), nullptr)) {
      ++accepted;
      (new Echo(s))->stream->ReadStart();
    }
  }
  Listener listener;
  int accepted = 0;
};

class Client final : public Stream::Handler {
 public:
  void OnStreamConnected(int status) override {
    connected = status;
    connected_inside_call = inside_call;
    if (status == 0) {
      stream->ReadStart();
      stream->Write(to_send);
      stream->Shutdown();
    } else {
      stream->Close();
    }
  }
  void OnStreamRead(std::string_view bytes) override { received.append(bytes); }
  void OnStreamEof() override { stream->Close(); }
  void OnStreamError(int status) override {
    error = status;
    stream->Close();
  }
  void OnStreamClosed() override { closed = true; }
  TcpStream* stream = nullptr;
  std::string to_send, received;
  int connected = 1;
  bool inside_call = false, connected_inside_call = false, closed = false;
  int error = 0;
};

class TcpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  // Runs until `done` or 5 s pass.
  template <typename F>
  void RunUntil(F done) {
    uint64_t until = uv_now(&loop_) + 5000;
    while (!done() && uv_now(&loop_) < until) uv_run(&loop_, UV_RUN_ONCE);
  }
  int Listen(Server& server) {
    sockaddr_storage addr;
    EXPECT_TRUE(ParseIp("127.0.0.1", 0, &addr));
    std::string error;
    EXPECT_TRUE(server.listener.Listen(reinterpret_cast<sockaddr*>(&addr), -1, &error)) << error;
    return server.listener.LocalPort();
  }
  uv_loop_t loop_;
};

TEST_F(TcpStreamTest, EchoesABigTransferWithBackpressure) {
  Server server(&loop_);
  int port = Listen(server);
  sockaddr_storage to;
  ASSERT_TRUE(ParseIp("127.0.0.1", port, &to));
  Client client;
  client.to_send.assign(8 << 20, 'z');  // far more than the socket buffers hold
  for (size_t i = 0; i < client.to_send.size(); i += 4096) client.to_send[i] = static_cast<char>('a' + i % 26);
  client.inside_call = true;
  client.stream = TcpStream::Connect(&loop_, reinterpret_cast<sockaddr*>(&to), &client);
  client.inside_call = false;
  RunUntil([&] { return client.closed; });
  EXPECT_EQ(client.connected, 0);
  EXPECT_FALSE(client.connected_inside_call);
  EXPECT_EQ(client.received.size(), client.to_send.size());
  EXPECT_TRUE(client.received == client.to_send);
  EXPECT_EQ(server.accepted, 1);
  server.listener.Close();
}

TEST_F(TcpStreamTest, ARefusedConnectIsReportedFromTheLoop) {
  // A port nothing listens on: bind one, read its number, close it.
  Server probe(&loop_);
  int port = Listen(probe);
  probe.listener.Close();
  sockaddr_storage to;
  ASSERT_TRUE(ParseIp("127.0.0.1", port, &to));
  Client client;
  client.inside_call = true;
  client.stream = TcpStream::Connect(&loop_, reinterpret_cast<sockaddr*>(&to), &client);
  client.inside_call = false;
  RunUntil([&] { return client.closed; });
  EXPECT_EQ(client.connected, UV_ECONNREFUSED);
  EXPECT_FALSE(client.connected_inside_call);
}

TEST_F(TcpStreamTest, AnImmediateConnectFailureIsAlsoReportedFromTheLoop) {
  sockaddr_storage to;
  ASSERT_TRUE(ParseIp("127.0.0.1", 0, &to));
  to.ss_family = AF_UNIX + 100;  // nonsense family: uv_tcp_connect fails at once
  Client client;
  client.inside_call = true;
  client.stream = TcpStream::Connect(&loop_, reinterpret_cast<sockaddr*>(&to), &client);
  client.inside_call = false;
  EXPECT_EQ(client.connected, 1) << "nothing inside the call";
  RunUntil([&] { return client.closed; });
  EXPECT_LT(client.connected, 0);
  EXPECT_FALSE(client.connected_inside_call);
}

TEST_F(TcpStreamTest, AnAbandonedStreamSaysNothing) {
  Server server(&loop_);
  int port = Listen(server);
  sockaddr_storage to;
  ASSERT_TRUE(ParseIp("127.0.0.1", port, &to));
  Client client;
  client.stream = TcpStream::Connect(&loop_, reinterpret_cast<sockaddr*>(&to), &client);
  client.stream->Abandon();
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(client.connected, 1);
  EXPECT_FALSE(client.closed);
  server.listener.Close();
}

}  // namespace
}  // namespace im::net
