#include "proto/request.h"

#include <charconv>

#include "proto/line.h"
#include "proto/userid.h"

namespace im::proto {
namespace {

// One row per verb: its name, its fields in order (the first `required` must be
// present), what a bad id in any of them is answered with, and every reply it can get.
struct VerbRule {
  Verb verb;
  std::string_view name;
  std::span<const Field> fields;
  size_t required;
  Reply bad_id;
  std::span<const Reply> replies;
};

constexpr Field kRegFields[] = {Field::kUser, Field::kPassword};
constexpr Field kPairFields[] = {Field::kUser, Field::kBuddy, Field::kProof};
// Any request can also get 400 (the server did not understand it), 500 (storage failed,
// nothing changed) and 503 (im-lb has no backend).
constexpr Reply kRegReplies[] = {Reply::kOk, Reply::kAlreadyRegistered, Reply::kInvalidUserId,
                                 Reply::kRegistrationClosed, Reply::kLoggedIn, Reply::kWrongPassword,
                                 Reply::kPasswordRequired, Reply::kNotProtected, Reply::kBadPassword,
                                 Reply::kTryLater, Reply::kBadRequest, Reply::kServerError, Reply::kNoBackend};
constexpr Reply kAddReplies[] = {Reply::kOk, Reply::kAlreadyBuddy, Reply::kNoSuchUser, Reply::kBuddyListFull,
                                 Reply::kUnauthorized, Reply::kBadRequest, Reply::kServerError, Reply::kNoBackend};
constexpr Reply kDelReplies[] = {Reply::kOk, Reply::kNotABuddy, Reply::kNoSuchUser, Reply::kUnauthorized,
                                 Reply::kBadRequest, Reply::kServerError, Reply::kNoBackend};
constexpr Reply kPingReplies[] = {Reply::kOk, Reply::kBadRequest, Reply::kNoBackend};

constexpr VerbRule kGrammar[] = {
    {Verb::kReg, "REG", kRegFields, 1, Reply::kInvalidUserId, kRegReplies},
    {Verb::kAdd, "ADD", kPairFields, 2, Reply::kNoSuchUser, kAddReplies},
    {Verb::kDel, "DEL", kPairFields, 2, Reply::kNoSuchUser, kDelReplies},
    {Verb::kPing, "PING", {}, 0, Reply::kBadRequest, kPingReplies},
};

const VerbRule& RuleFor(Verb verb) {
  for (const VerbRule& rule : kGrammar) {
    if (rule.verb == verb) return rule;
  }
  return kGrammar[0];  // unreachable: every Verb has a row
}

bool ValidPassword(std::string_view word) {
  return word.size() >= kMinPasswordBytes && word.size() <= kMaxPasswordBytes;  // no spaces: it is one word
}

// Sets one field from its word; the reply to send when the word breaks the field's rules.
std::optional<Reply> SetField(Request& request, Field field, std::string_view word, Reply bad_id) {
  switch (field) {
    case Field::kUser:
    case Field::kBuddy:
      // An id that breaks the rules was never registered.
      if (!IsValidUserId(word)) return bad_id;
      (field == Field::kUser ? request.user : request.buddy).assign(word);
      return std::nullopt;
    case Field::kPassword:
      if (!ValidPassword(word)) return Reply::kBadPassword;
      request.password.assign(word);
      return std::nullopt;
    case Field::kProof:
      if (auto proof = ParseProof(word)) {
        request.proof = std::move(*proof);
        return std::nullopt;
      }
      return Reply::kUnauthorized;
  }
  return Reply::kBadRequest;
}

// The field's text in a formatted line; empty when the optional field is absent.
std::string FieldText(const Request& request, Field field) {
  switch (field) {
    case Field::kUser: return request.user;
    case Field::kBuddy: return request.buddy;
    case Field::kPassword: return request.password;
    case Field::kProof: return request.proof.empty() ? std::string() : FormatProof(request.proof);
  }
  return {};
}

// Checks that need more than one field.
bool Consistent(const Request& request) {
  return !(request.verb == Verb::kAdd && request.user == request.buddy);  // no ADD of oneself
}

bool ParseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::variant<Request, Reply> ParseRequest(std::string_view line) {
  if (line.size() > kMaxLineBytes || HasControlBytes(line)) return Reply::kBadRequest;
  auto words = SplitWords(line);
  if (words.empty()) return Reply::kBadRequest;
  for (const VerbRule& rule : kGrammar) {
    if (!EqualsIgnoreCase(words[0], rule.name)) continue;
    size_t args = words.size() - 1;
    if (args < rule.required || args > rule.fields.size()) return Reply::kBadRequest;
    Request request;
    request.verb = rule.verb;
    for (size_t i = 0; i < args; ++i) {
      if (auto reply = SetField(request, rule.fields[i], words[i + 1], rule.bad_id)) return *reply;
    }
    if (!Consistent(request)) return rule.bad_id;
    return request;
  }
  return Reply::kBadRequest;
}

std::string FormatRequest(const Request& request) {
  const VerbRule& rule = RuleFor(request.verb);
  std::string line(rule.name);
  for (Field field : rule.fields) {
    std::string value = FieldText(request, field);
    if (value.empty()) continue;  // an optional field left out
    line += ' ';
    line += value;
  }
  line += '\n';
  return line;
}

std::string SignedText(const Request& request) {
  Request unsigned_request = request;
  unsigned_request.proof = Proof{};
  std::string text = FormatRequest(unsigned_request);
  text.pop_back();
  text += ' ';
  text += FormatProofHead(request.proof);
  return text;
}

std::string_view VerbName(Verb verb) noexcept { return RuleFor(verb).name; }

std::span<const Reply> RepliesFor(Verb verb) noexcept { return RuleFor(verb).replies; }

bool IsBase64Url(std::string_view text) noexcept {
  for (unsigned char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<Proof> ParseProof(std::string_view text) {
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    size_t dot = text.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    parts[i] = text.substr(0, dot);
    text.remove_prefix(dot + 1);
  }
  parts[3] = text;
  Proof proof;
  uint64_t time_ms = 0;
  // One spelling per proof: no leading zeros, so what is signed is what is formatted.
  for (int i : {1, 2}) {
    if (parts[i].size() > 1 && parts[i][0] == '0') return std::nullopt;
  }
  if (parts[0].size() < 16 || parts[0].size() > 64 || !IsBase64Url(parts[0])) return std::nullopt;
  if (!ParseDecimal(parts[1], &time_ms) || time_ms > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  if (!ParseDecimal(parts[2], &proof.counter)) return std::nullopt;
  if (parts[3].size() != 43 || !IsBase64Url(parts[3])) return std::nullopt;
  proof.session.assign(parts[0]);
  proof.time_ms = static_cast<int64_t>(time_ms);
  proof.mac.assign(parts[3]);
  return proof;
}

std::string FormatProofHead(const Proof& proof) {
  return proof.session + "." + std::to_string(proof.time_ms) + "." + std::to_string(proof.counter);
}

std::string FormatProof(const Proof& proof) { return FormatProofHead(proof) + "." + proof.mac; }

std::string FormatGrantReply(Reply reply, const SessionGrant& grant) {
  std::string line(ReplyLine(reply));
  line.pop_back();  // the "\n"
  line += ' ' + grant.session + ' ' + grant.key + ' ' + std::to_string(grant.expires_ms) + ' ' +
          std::to_string(grant.server_now_ms) + '\n';
  return line;
}

std::optional<SessionGrant> ParseGrant(std::string_view reply_line) {
  auto words = SplitWords(StripLineEnd(reply_line));
  // "200 OK s k e n" or "210 LOGGED IN s k e n": the last four words.
  if (words.size() < 6 || (words[0] != "200" && words[0] != "210")) return std::nullopt;
  size_t n = words.size();
  SessionGrant grant;
  uint64_t expires = 0, now = 0;
  if (words[n - 4].size() < 16 || words[n - 4].size() > 64 || !IsBase64Url(words[n - 4])) return std::nullopt;
  if (words[n - 3].size() != 43 || !IsBase64Url(words[n - 3])) return std::nullopt;
  if (!ParseDecimal(words[n - 2], &expires) || !ParseDecimal(words[n - 1], &now)) return std::nullopt;
  if (expires > static_cast<uint64_t>(INT64_MAX) || now > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  grant.session.assign(words[n - 4]);
  grant.key.assign(words[n - 3]);
  grant.expires_ms = static_cast<int64_t>(expires);
  grant.server_now_ms = static_cast<int64_t>(now);
  return grant;
}

}  // namespace im::proto
