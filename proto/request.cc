#include "proto/request.h"

#include "proto/line.h"
#include "proto/userid.h"

namespace im::proto {

std::variant<Request, Reply> ParseRequest(std::string_view line) {
  if (line.size() > kMaxLineBytes || HasControlBytes(line)) return Reply::kBadRequest;
  auto words = SplitWords(line);
  if (words.empty()) return Reply::kBadRequest;

  if (EqualsIgnoreCase(words[0], "REG")) {
    if (words.size() != 2) return Reply::kBadRequest;
    if (!IsValidUserId(words[1])) return Reply::kInvalidUserId;
    return Request{Verb::kReg, std::string(words[1]), {}};
  }
  bool add = EqualsIgnoreCase(words[0], "ADD");
  if (add || EqualsIgnoreCase(words[0], "DEL")) {
    if (words.size() != 3) return Reply::kBadRequest;
    // An id that breaks the rules was never registered.
    if (!IsValidUserId(words[1]) || !IsValidUserId(words[2])) return Reply::kNoSuchUser;
    if (add && words[1] == words[2]) return Reply::kNoSuchUser;
    return Request{add ? Verb::kAdd : Verb::kDel, std::string(words[1]), std::string(words[2])};
  }
  return Reply::kBadRequest;
}

std::string FormatRequest(const Request& request) {
  std::string line;
  switch (request.verb) {
    case Verb::kReg: line = "REG " + request.user; break;
    case Verb::kAdd: line = "ADD " + request.user + " " + request.buddy; break;
    case Verb::kDel: line = "DEL " + request.user + " " + request.buddy; break;
  }
  line += '\n';
  return line;
}

std::string_view ReplyLine(Reply reply) noexcept {
  switch (reply) {
    case Reply::kOk: return "200 OK\n";
    case Reply::kAlreadyRegistered: return "201 ALREADY REGISTERED\n";
    case Reply::kInvalidUserId: return "202 INVALID USERID\n";
    case Reply::kRegistrationClosed: return "203 REGISTRATION CLOSED\n";
    case Reply::kAlreadyBuddy: return "201 ALREADY BUDDY\n";
    case Reply::kNoSuchUser: return "202 NO SUCH USER\n";
    case Reply::kBuddyListFull: return "203 BUDDY LIST FULL\n";
    case Reply::kNotABuddy: return "201 NOT A BUDDY\n";
    case Reply::kBadRequest: return "400 BAD REQUEST\n";
    case Reply::kServerError: return "500 SERVER ERROR\n";
    case Reply::kNoBackend: return "503 NO BACKEND AVAILABLE\n";
  }
  return "500 SERVER ERROR\n";
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

}  // namespace im::proto
