#include "proto/request.h"

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

constexpr Field kRegFields[] = {Field::kUser};
constexpr Field kPairFields[] = {Field::kUser, Field::kBuddy};
// Any request can also get 400 (the server did not understand it), 500 (storage failed,
// nothing changed) and 503 (im-lb has no backend).
constexpr Reply kRegReplies[] = {Reply::kOk, Reply::kAlreadyRegistered, Reply::kInvalidUserId,
                                 Reply::kRegistrationClosed, Reply::kBadRequest, Reply::kServerError,
                                 Reply::kNoBackend};
constexpr Reply kAddReplies[] = {Reply::kOk, Reply::kAlreadyBuddy, Reply::kNoSuchUser, Reply::kBuddyListFull,
                                 Reply::kBadRequest, Reply::kServerError, Reply::kNoBackend};
constexpr Reply kDelReplies[] = {Reply::kOk, Reply::kNotABuddy, Reply::kNoSuchUser, Reply::kBadRequest,
                                 Reply::kServerError, Reply::kNoBackend};

constexpr VerbRule kGrammar[] = {
    {Verb::kReg, "REG", kRegFields, 1, Reply::kInvalidUserId, kRegReplies},
    {Verb::kAdd, "ADD", kPairFields, 2, Reply::kNoSuchUser, kAddReplies},
    {Verb::kDel, "DEL", kPairFields, 2, Reply::kNoSuchUser, kDelReplies},
};

const VerbRule& RuleFor(Verb verb) {
  for (const VerbRule& rule : kGrammar) {
    if (rule.verb == verb) return rule;
  }
  return kGrammar[0];  // unreachable: every Verb has a row
}

std::string* FieldOf(Request& request, Field field) {
  switch (field) {
    case Field::kUser: return &request.user;
    case Field::kBuddy: return &request.buddy;
  }
  return &request.user;
}

const std::string& FieldOf(const Request& request, Field field) {
  return *FieldOf(const_cast<Request&>(request), field);
}

// Checks that need more than one field.
bool Consistent(const Request& request) {
  return !(request.verb == Verb::kAdd && request.user == request.buddy);  // no ADD of oneself
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
      // Every field so far is a user id; one that breaks the rules was never registered.
      if (!IsValidUserId(words[i + 1])) return rule.bad_id;
      FieldOf(request, rule.fields[i])->assign(words[i + 1]);
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
    const std::string& value = FieldOf(request, field);
    if (value.empty()) continue;  // an optional field left out
    line += ' ';
    line += value;
  }
  line += '\n';
  return line;
}

std::string_view VerbName(Verb verb) noexcept { return RuleFor(verb).name; }

std::span<const Reply> RepliesFor(Verb verb) noexcept { return RuleFor(verb).replies; }

}  // namespace im::proto
