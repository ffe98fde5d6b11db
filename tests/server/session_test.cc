// Session over a FakeStream, no sockets: one line in, one reply out, close; and every
// way a client can misbehave.
#include "server/session.h"

#include <gtest/gtest.h>

#include <vector>

#include "server/account_service.h"
#include "tests/support/fake_stream.h"

namespace im::server {
namespace {

class Queue : public AccountRequests {
 public:
  void Submit(uint64_t session_id, proto::Request request, const sockaddr*) override {
    ids.push_back(session_id);
    requests.push_back(std::move(request));
  }
  std::vector<uint64_t> ids;
  std::vector<proto::Request> requests;
};

class Owner : public Session::Owner {
 public:
  void OnSessionActive(Session*) override { ++active; }
  void OnSessionClosing(Session* s) override {
    ++closing;
    if (s == live) live = nullptr;
  }
  Session* live = nullptr;
  int active = 0, closing = 0;
};

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() { uv_loop_init(&loop_); }
  ~SessionTest() override {
    if (owner_.live != nullptr) owner_.live->Close();  // one still waiting for its reply
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  Session* Open() {
    stream_ = new test::FakeStream(&loop_, &record_);
    owner_.live = Session::Create(stream_, owner_, queue_);
    owner_.live->Begin(42);
    return owner_.live;
  }
  void Settle() { uv_run(&loop_, UV_RUN_DEFAULT); }  // runs the close to its end

  uv_loop_t loop_;
  test::FakeStream::Record record_;
  test::FakeStream* stream_ = nullptr;
  Owner owner_;
  Queue queue_;
};

TEST_F(SessionTest, OneLineOneRequestOneReplyThenClose) {
  Session* s = Open();
  stream_->Feed("ADD alice bob\r\nREG ignored\n");
  ASSERT_EQ(queue_.requests.size(), 1u) << "only the first line counts";
  EXPECT_EQ(queue_.ids[0], 42u);
  EXPECT_EQ(queue_.requests[0].verb, proto::Verb::kAdd);
  EXPECT_EQ(queue_.requests[0].buddy, "bob");
  EXPECT_EQ(owner_.active, 1);
  EXPECT_TRUE(record_.written.empty()) << "no reply before the commit";
  s->SendReply(proto::Reply::kOk);
  EXPECT_EQ(record_.written, "200 OK\n");
  EXPECT_TRUE(record_.closed);
  Settle();
  EXPECT_TRUE(record_.close_reported);
  EXPECT_EQ(owner_.closing, 1);
}

TEST_F(SessionTest, BadLinesAreAnsweredAtOnceWithoutTheStore) {
  Open();
  stream_->Feed("HELLO there\n");
  EXPECT_EQ(record_.written, "400 BAD REQUEST\n");
  EXPECT_TRUE(queue_.requests.empty());
  EXPECT_TRUE(record_.closed);
}

TEST_F(SessionTest, AnOverLongLineIs400) {
  Open();
  stream_->Feed(std::string(100000, 'A'));
  EXPECT_EQ(record_.written, "400 BAD REQUEST\n");
  EXPECT_TRUE(queue_.requests.empty());
}

TEST_F(SessionTest, ALastLineWithoutNewlineBeforeHalfCloseIsARequest) {
  Open();
  stream_->Feed("REG carol");
  stream_->FeedEof();
  ASSERT_EQ(queue_.requests.size(), 1u);
  EXPECT_EQ(queue_.requests[0].user, "carol");
}

TEST_F(SessionTest, AClientThatLeavesIsNotAnsweredAndItsReplyIsDropped) {
  Session* s = Open();
  stream_->Feed("REG dave\n");
  stream_->FeedError(UV_ECONNRESET);
  EXPECT_TRUE(record_.closed);
  EXPECT_EQ(owner_.live, nullptr) << "the owner forgets it at once, so a late reply finds nothing";
  (void)s;
  Settle();
  EXPECT_TRUE(record_.written.empty());
}

TEST_F(SessionTest, AReplyTheKernelCannotTakeAtOnceClosesOnlyWhenWritten) {
  Session* s = Open();
  stream_->Feed("REG erin\n");
  stream_->HoldWrites(true);
  s->SendReply(proto::Reply::kOk);
  EXPECT_FALSE(record_.closed) << "closing now would cancel the queued reply";
  stream_->Drain();
  EXPECT_TRUE(record_.closed);
}

TEST_F(SessionTest, PingIsAnsweredAtOnceWithoutTheStore) {
  Open();
  stream_->Feed("PING\n");
  EXPECT_EQ(record_.written, "200 OK\n");
  EXPECT_TRUE(queue_.requests.empty());
}

TEST_F(SessionTest, EofWithNothingSentJustCloses) {
  Open();
  stream_->FeedEof();
  EXPECT_TRUE(record_.closed);
  EXPECT_TRUE(record_.written.empty());
}

}  // namespace
}  // namespace im::server
