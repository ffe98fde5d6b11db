#include "client/messages.h"

#include <uv.h>

#include "proto/text.h"

namespace im::client {

std::string BuddyReplyWords(proto::Verb verb, std::string_view buddy, std::optional<proto::Reply> reply,
                            std::string_view line) {
  using proto::Reply;
  std::string who = proto::Printable(buddy);
  std::string tail = " (" + proto::Printable(line) + ")";
  bool add = verb == proto::Verb::kAdd;
  if (!reply) return "the server said: " + proto::Printable(line);
  switch (*reply) {
    case Reply::kOk: return who + (add ? " added" : " deleted") + tail;
    case Reply::kAlreadyBuddy: return who + " is already your buddy" + tail;
    case Reply::kBuddyListFull: return "your buddy list is full" + tail;
    case Reply::kNotABuddy: return who + " is not your buddy" + tail;
    // ADD: buddy is unregistered (we are logged in); DEL: either id may be.
    case Reply::kNoSuchUser: return who + (add ? " is not registered" : " or your account is not registered") + tail;
    case Reply::kBadRequest: return "the server rejected the request" + tail;
    case Reply::kServerError: return "server error, nothing changed: try again" + tail;
    case Reply::kNoBackend: return "no server is available right now: try again" + tail;
    case Reply::kUnauthorized: return "the server did not accept your proof of identity: log in again" + tail;
    case Reply::kTryLater: return "the server is busy: try again in a moment" + tail;
    case Reply::kAlreadyRegistered:  // REG's replies: never parsed for ADD/DEL
    case Reply::kInvalidUserId:
    case Reply::kRegistrationClosed:
    case Reply::kLoggedIn:
    case Reply::kWrongPassword:
    case Reply::kPasswordRequired:
    case Reply::kNotProtected:
    case Reply::kBadPassword: break;
  }
  return "the server said: " + proto::Printable(line);
}

std::string LoginFailureWords(std::string_view user, std::optional<proto::Reply> reply, std::string_view line,
                              bool with_password) {
  using proto::Reply;
  std::string who = proto::Printable(user);
  std::string tail = " (" + proto::Printable(line) + ")";
  if (!reply) return "cannot log in as " + who + ": " + proto::Printable(line);
  switch (*reply) {
    case Reply::kInvalidUserId: return who + " is not a valid user id" + tail;
    case Reply::kRegistrationClosed: return "the server takes no new accounts" + tail;
    case Reply::kWrongPassword: return "wrong password for " + who + tail;
    case Reply::kPasswordRequired:
      return (with_password ? "the server requires a password" : who + " has a password: log in with it") + tail;
    case Reply::kNotProtected: return who + " has no password: log in without one" + tail;
    case Reply::kBadPassword: return "a password is 8 to 128 bytes without spaces or control characters" + tail;
    case Reply::kTryLater: return "too many attempts or the server is busy: try again in a moment" + tail;
    case Reply::kBadRequest: return "the server rejected the log-in" + tail;
    case Reply::kServerError: return "server error: try again" + tail;
    case Reply::kNoBackend: return "no server is available right now: try again" + tail;
    case Reply::kUnauthorized: return "the server did not accept the log-in" + tail;
    default: break;
  }
  return "cannot log in as " + who + ": " + proto::Printable(line);
}

std::string PeerEndWords(PeerConn::End end, std::string_view peer, int status) {
  using End = PeerConn::End;
  std::string who = proto::Printable(peer);
  switch (end) {
    case End::kUnreachable: return "cannot reach " + who + ": " + uv_strerror(status);
    case End::kNoAnswer: return who + " did not answer (timeout)";
    case End::kBusy: return who + " is busy in another chat";
    case End::kNotAChatClient: return who + " answered something that is not a chat client";
    case End::kHungUp: return who + " hung up before answering";
    case End::kLeft: return who + " left the chat";
    case End::kDisconnected: return "chat ended: " + who + " disconnected";
    case End::kTooLong: return "chat ended: " + who + " sent an over-long line";
    case End::kNoHello: return "";
    case End::kWrongKey:
      return "chat with " + who + " refused: the peer could not prove it holds " + who +
             "'s chat key (an impostor, or a stale address)";
    case End::kForged: return "chat ended: a message claiming to be from " + who + " failed authentication";
  }
  return "";
}

namespace {
std::string HeldBack(uint64_t held_back) {
  return held_back == 0 ? "" : " (" + std::to_string(held_back) + " more refused since the last notice)";
}
}  // namespace

std::string RefusedCallerWords(CallerVerdict verdict, std::string_view claimed, std::string_view from_ip,
                               uint64_t held_back) {
  std::string who = proto::Printable(claimed), ip = proto::Printable(from_ip);
  std::string why;
  switch (verdict) {
    case CallerVerdict::kNotABuddy: why = who + " is not your buddy"; break;
    case CallerVerdict::kOffline: why = who + " is OFFLINE"; break;
    case CallerVerdict::kWrongAddress: why = "not " + who + "'s address"; break;
    case CallerVerdict::kWrongKey: why = "not " + who + "'s chat key"; break;
    case CallerVerdict::kPlainRefused: why = "not encrypted; start with --plain-chat to allow plain chats"; break;
    case CallerVerdict::kBuddy: why = "busy"; break;
  }
  return "refused a chat from " + ip + " claiming to be " + who + " (" + why + ")" + HeldBack(held_back);
}

std::string PlainRefusedWords(std::string_view buddy) {
  std::string who = proto::Printable(buddy);
  return "cannot chat with " + who + ": " + who +
         "'s client publishes no chat key, so the chat could not be encrypted (start im-client with --plain-chat "
         "to allow plain text)";
}

std::string ChatPrivacyWords(bool encrypted, std::string_view peer) {
  if (encrypted) return " (end-to-end encrypted)";
  return " (NOT encrypted: " + proto::Printable(peer) + "'s client cannot encrypt, anyone on the path can read it)";
}

std::string BusyCallerWords(std::string_view peer, uint64_t held_back) {
  return proto::Printable(peer) + " tried to chat with you (you are busy)" + HeldBack(held_back);
}

}  // namespace im::client
