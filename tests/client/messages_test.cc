// client/messages: the words the client shows for ADD/DEL replies and chat endings.
#include "client/messages.h"

#include <uv.h>

#include <gtest/gtest.h>

namespace im::client {
namespace {

using proto::Reply;
using proto::Verb;

TEST(BuddyReplyWords, AddReplies) {
  EXPECT_EQ(BuddyReplyWords(Verb::kAdd, "bob", Reply::kOk, "200 OK"), "bob added (200 OK)");
  EXPECT_EQ(BuddyReplyWords(Verb::kAdd, "bob", Reply::kAlreadyBuddy, "201 ALREADY BUDDY"),
            "bob is already your buddy (201 ALREADY BUDDY)");
  EXPECT_EQ(BuddyReplyWords(Verb::kAdd, "bob", Reply::kNoSuchUser, "202 NO SUCH USER"),
            "bob is not registered (202 NO SUCH USER)");
  EXPECT_EQ(BuddyReplyWords(Verb::kAdd, "bob", Reply::kBuddyListFull, "203 BUDDY LIST FULL"),
            "your buddy list is full (203 BUDDY LIST FULL)");
}

TEST(BuddyReplyWords, DelReplies) {
  EXPECT_EQ(BuddyReplyWords(Verb::kDel, "bob", Reply::kOk, "200 OK"), "bob deleted (200 OK)");
  EXPECT_EQ(BuddyReplyWords(Verb::kDel, "bob", Reply::kNotABuddy, "201 NOT A BUDDY"),
            "bob is not your buddy (201 NOT A BUDDY)");
  // The server checks both ids of DEL: either may be the unregistered one.
  EXPECT_EQ(BuddyReplyWords(Verb::kDel, "bob", Reply::kNoSuchUser, "202 NO SUCH USER"),
            "bob or your account is not registered (202 NO SUCH USER)");
}

TEST(BuddyReplyWords, RepliesAnyRequestCanGet) {
  for (Verb verb : {Verb::kAdd, Verb::kDel}) {
    EXPECT_EQ(BuddyReplyWords(verb, "bob", Reply::kBadRequest, "400 BAD REQUEST"),
              "the server rejected the request (400 BAD REQUEST)");
    EXPECT_EQ(BuddyReplyWords(verb, "bob", Reply::kServerError, "500 SERVER ERROR"),
              "server error, nothing changed: try again (500 SERVER ERROR)");
    EXPECT_EQ(BuddyReplyWords(verb, "bob", Reply::kNoBackend, "503 NO BACKEND AVAILABLE"),
              "no server is available right now: try again (503 NO BACKEND AVAILABLE)");
  }
}

TEST(BuddyReplyWords, ALineTheVerbCannotGetIsQuotedSafely) {
  EXPECT_EQ(BuddyReplyWords(Verb::kAdd, "bob", std::nullopt, "299 WHATEVER"), "the server said: 299 WHATEVER");
  EXPECT_EQ(BuddyReplyWords(Verb::kAdd, "bob", std::nullopt, "\x1b[31mred"), "the server said: ?[31mred");
  EXPECT_EQ(BuddyReplyWords(Verb::kDel, "bob", Reply::kOk, "200 OK\x1b]0;x\x07"), "bob deleted (200 OK?]0;x?)");
}

TEST(PeerEndWords, EveryEndInWords) {
  using End = PeerConn::End;
  EXPECT_EQ(PeerEndWords(End::kUnreachable, "bob", UV_ECONNREFUSED), "cannot reach bob: connection refused");
  EXPECT_EQ(PeerEndWords(End::kNoAnswer, "bob", 0), "bob did not answer (timeout)");
  EXPECT_EQ(PeerEndWords(End::kBusy, "bob", 0), "bob is busy in another chat");
  EXPECT_EQ(PeerEndWords(End::kNotAChatClient, "bob", 0), "bob answered something that is not a chat client");
  EXPECT_EQ(PeerEndWords(End::kHungUp, "bob", 0), "bob hung up before answering");
  EXPECT_EQ(PeerEndWords(End::kLeft, "bob", 0), "bob left the chat");
  EXPECT_EQ(PeerEndWords(End::kDisconnected, "bob", 0), "chat ended: bob disconnected");
  EXPECT_EQ(PeerEndWords(End::kTooLong, "bob", 0), "chat ended: bob sent an over-long line");
  EXPECT_EQ(PeerEndWords(End::kNoHello, "", 0), "");
  EXPECT_EQ(PeerEndWords(End::kLeft, "b\x1b" "ob", 0), "b?ob left the chat");
}

}  // namespace
}  // namespace im::client
