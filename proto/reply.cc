#include "proto/reply.h"

#include "proto/line.h"

namespace im::proto {
namespace {

struct ReplyText {
  Reply reply;
  std::string_view line;  // "<code> <text>\n"
};

// The one table of reply strings; indexed by the enum's value.
constexpr ReplyText kReplies[] = {
    {Reply::kOk, "200 OK\n"},
    {Reply::kAlreadyRegistered, "201 ALREADY REGISTERED\n"},
    {Reply::kInvalidUserId, "202 INVALID USERID\n"},
    {Reply::kRegistrationClosed, "203 REGISTRATION CLOSED\n"},
    {Reply::kAlreadyBuddy, "201 ALREADY BUDDY\n"},
    {Reply::kNoSuchUser, "202 NO SUCH USER\n"},
    {Reply::kBuddyListFull, "203 BUDDY LIST FULL\n"},
    {Reply::kNotABuddy, "201 NOT A BUDDY\n"},
    {Reply::kBadRequest, "400 BAD REQUEST\n"},
    {Reply::kServerError, "500 SERVER ERROR\n"},
    {Reply::kNoBackend, "503 NO BACKEND AVAILABLE\n"},
    {Reply::kLoggedIn, "210 LOGGED IN\n"},
    {Reply::kWrongPassword, "204 WRONG PASSWORD\n"},
    {Reply::kPasswordRequired, "205 PASSWORD REQUIRED\n"},
    {Reply::kNotProtected, "206 ACCOUNT HAS NO PASSWORD\n"},
    {Reply::kBadPassword, "207 BAD PASSWORD\n"},
    {Reply::kUnauthorized, "401 UNAUTHORIZED\n"},
    {Reply::kTryLater, "429 TRY LATER\n"},
};

constexpr bool TableMatchesEnum() {
  for (size_t i = 0; i < std::size(kReplies); ++i) {
    if (static_cast<size_t>(kReplies[i].reply) != i) return false;
  }
  return true;
}
static_assert(TableMatchesEnum(), "kReplies must list the replies in enum order");

}  // namespace

std::string_view ReplyLine(Reply reply) noexcept {
  auto index = static_cast<size_t>(reply);
  return index < std::size(kReplies) ? kReplies[index].line : kReplies[static_cast<size_t>(Reply::kServerError)].line;
}

int ReplyCode(Reply reply) noexcept {
  std::string_view line = ReplyLine(reply);
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

std::optional<ReplyStatus> ParseReplyLine(std::string_view line) {
  line = StripLineEnd(line);
  if (line.size() < 3 || HasControlBytes(line)) return std::nullopt;
  int code = 0;
  for (int i = 0; i < 3; ++i) {
    if (line[i] < '0' || line[i] > '9') return std::nullopt;
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100) return std::nullopt;
  std::string_view text = line.substr(3);
  if (!text.empty()) {
    if (text[0] != ' ') return std::nullopt;
    text.remove_prefix(1);
  }
  return ReplyStatus{code, std::string(text)};
}

std::optional<Reply> ParseReply(std::string_view line, std::span<const Reply> expected) {
  auto status = ParseReplyLine(line);
  if (!status) return std::nullopt;
  for (Reply reply : expected) {
    if (ReplyCode(reply) == status->code) return reply;
  }
  return std::nullopt;
}

}  // namespace im::proto
