#include "client/menu.h"

#include "proto/line.h"

namespace im::client {
namespace {

struct Word {
  std::string_view word;
  MenuCommand command;
};

// Every way to name a command: its menu number first, then its words.
constexpr Word kWords[] = {
    {"1", MenuCommand::kAdd},    {"add", MenuCommand::kAdd},
    {"2", MenuCommand::kDelete}, {"del", MenuCommand::kDelete}, {"delete", MenuCommand::kDelete},
    {"3", MenuCommand::kList},   {"list", MenuCommand::kList},
    {"4", MenuCommand::kChat},   {"chat", MenuCommand::kChat},
    {"5", MenuCommand::kHelp},   {"help", MenuCommand::kHelp},  {"menu", MenuCommand::kHelp}, {"?", MenuCommand::kHelp},
    {"6", MenuCommand::kQuit},   {"quit", MenuCommand::kQuit},  {"exit", MenuCommand::kQuit},
};

bool TakesBuddy(MenuCommand command) {
  return command == MenuCommand::kAdd || command == MenuCommand::kDelete || command == MenuCommand::kChat;
}

std::string Lower(std::string_view word) {
  std::string out(word);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  return out;
}

}  // namespace

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

MenuInput ParseMenuLine(std::string_view line) {
  auto words = proto::SplitWords(line);
  if (words.empty()) return {};
  std::string word = Lower(words[0]);
  for (const Word& w : kWords) {
    if (w.word != word) continue;
    MenuInput input{w.command, ""};
    if (TakesBuddy(w.command) && words.size() > 1) input.arg.assign(words[1]);
    return input;
  }
  return {MenuCommand::kUnknown, word};
}

MenuInput Menu::Read(std::string_view line) {
  if (asking()) {
    MenuCommand command = asking_;
    asking_ = MenuCommand::kNothing;
    std::string_view answer = TrimSpaces(line);
    if (answer.empty()) return {MenuCommand::kCancelled, ""};
    return {command, std::string(answer)};  // the whole answer is the id; a stray word fails its check
  }
  MenuInput input = ParseMenuLine(line);
  if (TakesBuddy(input.command) && input.arg.empty()) {
    asking_ = input.command;
    return {MenuCommand::kAsk, ""};
  }
  return input;
}

std::string Menu::Prompt(std::string_view me) const {
  switch (asking_) {
    case MenuCommand::kAdd: return "Buddy to add: ";
    case MenuCommand::kDelete: return "Buddy to delete: ";
    case MenuCommand::kChat: return "Buddy to chat with: ";
    default: return std::string(me) + "> ";
  }
}

}  // namespace im::client
