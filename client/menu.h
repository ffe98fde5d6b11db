// What the user types at the menu, as a typed command: the one place that knows the
// menu's numbers and words ("1" or "add", ...) and the question a numbered item asks for
// its id. Pure: no I/O; its only state is the question waiting for an answer.
#pragma once

#include <string>
#include <string_view>

namespace im::client {

enum class MenuCommand {
  kNothing,    // an empty line at the menu
  kAsk,        // a numbered item without an id: its question is the prompt now
  kCancelled,  // the question was answered with an empty line
  kAdd,        // add the buddy in arg
  kDelete,     // delete the buddy in arg
  kChat,       // call the buddy in arg
  kList,
  kHelp,
  kQuit,
  kUnknown,    // arg: the command word that was not understood, lower-cased
};

struct MenuInput {
  MenuCommand command = MenuCommand::kNothing;
  std::string arg;  // see MenuCommand
};

// The menu as shown after log-in and for help, one line each.
inline constexpr std::string_view kMenuText[] = {
    "1) add buddy  2) delete buddy  3) list buddies  4) chat  5) help  6) quit",
    "   or type: add ID, del ID, list, chat ID, help, quit",
};

// Drops leading and trailing spaces.
std::string_view TrimSpaces(std::string_view text);

// One line typed at the menu: surrounding spaces are ignored, the command word is
// case-insensitive and words after the id are ignored. add/del/chat (or 1/2/4) without
// an id give their command with an empty arg.
MenuInput ParseMenuLine(std::string_view line);

// The menu's conversation: each line is a command or, after add/del/chat without an id,
// the answer to the question that asked for it.
class Menu {
 public:
  // Reads one line. kAdd/kDelete/kChat always come with the id to act on (as typed, not
  // yet checked); kAsk means a question is pending, kCancelled that it got no answer.
  // Whatever comes back, the question is over unless it is kAsk.
  MenuInput Read(std::string_view line);
  // The prompt for the next line: the pending question, or "<me>> ".
  std::string Prompt(std::string_view me) const;
  bool asking() const { return asking_ != MenuCommand::kNothing; }
  // Forgets a pending question (a chat came in and took over the screen).
  void Reset() { asking_ = MenuCommand::kNothing; }

 private:
  MenuCommand asking_ = MenuCommand::kNothing;  // kAdd, kDelete or kChat while its question waits
};

}  // namespace im::client
