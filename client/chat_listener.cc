#include "client/chat_listener.h"

#include <algorithm>

#include "net/address.h"
#include "net/tcp_stream.h"

namespace im::client {

ChatListener::ChatListener(uv_loop_t* loop, Owner& owner, uint64_t timeout_ms, const auth::ChatIdentity& identity)
    : loop_(loop), owner_(owner), timeout_ms_(timeout_ms), identity_(identity), listener_(loop, *this) {}

bool ChatListener::Listen(int port, std::string* error) {
  sockaddr_storage any{};
  net::ParseIp("0.0.0.0", port, &any);
  return listener_.Listen(reinterpret_cast<const sockaddr*>(&any), -1, error);
}

void ChatListener::OnIncoming() {
  if (closed_) return;
  if (callers_.size() >= kMaxCallers) {
    // Full: take the connection and close it, so it neither waits in the backlog nor
    // keeps the listener from seeing the next one.
    if (net::TcpStream* drop = net::TcpStream::Accept(listener_.stream(), nullptr)) drop->Close();
    return;
  }
  PeerConn* conn = PeerConn::Answer(loop_, *this, listener_.stream(), timeout_ms_, identity_);
  if (conn == nullptr) return;
  size_t same = std::count_if(callers_.begin(), callers_.end(),
                              [&](PeerConn* c) { return net::SameIp(c->remote(), conn->remote()); });
  if (same >= kMaxCallersPerAddress) return conn->Close();  // its owner hears nothing
  callers_.push_back(conn);
}

void ChatListener::OnPeerHello(PeerConn* conn, const std::string& peer) {
  std::erase(callers_, conn);
  owner_.OnCaller(conn, peer);
}

void ChatListener::OnPeerGone(PeerConn* conn, PeerConn::End, int) { std::erase(callers_, conn); }

void ChatListener::Close() {
  if (closed_) return;
  closed_ = true;
  listener_.Close();
  for (PeerConn* conn : callers_) conn->Close();
  callers_.clear();
}

}  // namespace im::client
