// client/menu: what a line typed at the menu means, and the question a numbered item asks.
#include "client/menu.h"

#include <gtest/gtest.h>

namespace im::client {
namespace {

void ExpectInput(const MenuInput& input, MenuCommand command, const std::string& arg) {
  EXPECT_EQ(input.command, command);
  EXPECT_EQ(input.arg, arg);
}

TEST(MenuParse, NumbersAndWordsNameTheSameCommands) {
  ExpectInput(ParseMenuLine("1 bob"), MenuCommand::kAdd, "bob");
  ExpectInput(ParseMenuLine("add bob"), MenuCommand::kAdd, "bob");
  ExpectInput(ParseMenuLine("2 bob"), MenuCommand::kDelete, "bob");
  ExpectInput(ParseMenuLine("del bob"), MenuCommand::kDelete, "bob");
  ExpectInput(ParseMenuLine("delete bob"), MenuCommand::kDelete, "bob");
  ExpectInput(ParseMenuLine("3"), MenuCommand::kList, "");
  ExpectInput(ParseMenuLine("list"), MenuCommand::kList, "");
  ExpectInput(ParseMenuLine("4 bob"), MenuCommand::kChat, "bob");
  ExpectInput(ParseMenuLine("chat bob"), MenuCommand::kChat, "bob");
  for (const char* help : {"5", "help", "menu", "?"}) ExpectInput(ParseMenuLine(help), MenuCommand::kHelp, "");
  for (const char* quit : {"6", "quit", "exit"}) ExpectInput(ParseMenuLine(quit), MenuCommand::kQuit, "");
}

TEST(MenuParse, CommandWordsAreCaseInsensitiveButIdsAreKeptAsTyped) {
  ExpectInput(ParseMenuLine("ADD Bob"), MenuCommand::kAdd, "Bob");
  ExpectInput(ParseMenuLine("Chat bob.smith"), MenuCommand::kChat, "bob.smith");
  ExpectInput(ParseMenuLine("LiSt"), MenuCommand::kList, "");
}

TEST(MenuParse, SpacesAroundAndBetweenWordsAndExtraWordsAreIgnored) {
  ExpectInput(ParseMenuLine("   add    bob   "), MenuCommand::kAdd, "bob");
  ExpectInput(ParseMenuLine("add bob carol"), MenuCommand::kAdd, "bob");
  ExpectInput(ParseMenuLine("list everything"), MenuCommand::kList, "");
}

TEST(MenuParse, AnEmptyLineIsNothingAndAnUnknownWordIsNamed) {
  ExpectInput(ParseMenuLine(""), MenuCommand::kNothing, "");
  ExpectInput(ParseMenuLine("    "), MenuCommand::kNothing, "");
  ExpectInput(ParseMenuLine("Frobnicate now"), MenuCommand::kUnknown, "frobnicate");
  ExpectInput(ParseMenuLine("7"), MenuCommand::kUnknown, "7");
  ExpectInput(ParseMenuLine("bob"), MenuCommand::kUnknown, "bob");
}

TEST(MenuParse, ACommandThatTakesAnIdMayComeWithout) {
  ExpectInput(ParseMenuLine("1"), MenuCommand::kAdd, "");
  ExpectInput(ParseMenuLine("del"), MenuCommand::kDelete, "");
  ExpectInput(ParseMenuLine("4  "), MenuCommand::kChat, "");
}

TEST(MenuParse, TrimSpaces) {
  EXPECT_EQ(TrimSpaces("  q  "), "q");
  EXPECT_EQ(TrimSpaces("a b"), "a b");
  EXPECT_EQ(TrimSpaces("   "), "");
  EXPECT_EQ(TrimSpaces(""), "");
}

// The defect this split fixed: after "1" and the id the menu prompt must come back, and
// the next line is a command again.
TEST(Menu, ANumberedItemAsksForTheIdThenTheMenuPromptComesBack) {
  Menu menu;
  EXPECT_EQ(menu.Prompt("alice"), "alice> ");
  ExpectInput(menu.Read("1"), MenuCommand::kAsk, "");
  EXPECT_TRUE(menu.asking());
  EXPECT_EQ(menu.Prompt("alice"), "Buddy to add: ");
  ExpectInput(menu.Read("bob"), MenuCommand::kAdd, "bob");
  EXPECT_FALSE(menu.asking());
  EXPECT_EQ(menu.Prompt("alice"), "alice> ");
  ExpectInput(menu.Read("list"), MenuCommand::kList, "");
  ExpectInput(menu.Read("bob"), MenuCommand::kUnknown, "bob");  // not an answer any more
}

TEST(Menu, EveryItemThatTakesAnIdAsksItsOwnQuestion) {
  struct Case {
    const char* line;
    const char* prompt;
    MenuCommand command;
  };
  for (const Case& c : {Case{"1", "Buddy to add: ", MenuCommand::kAdd}, Case{"add", "Buddy to add: ", MenuCommand::kAdd},
                        Case{"2", "Buddy to delete: ", MenuCommand::kDelete},
                        Case{"delete", "Buddy to delete: ", MenuCommand::kDelete},
                        Case{"4", "Buddy to chat with: ", MenuCommand::kChat},
                        Case{"CHAT", "Buddy to chat with: ", MenuCommand::kChat}}) {
    SCOPED_TRACE(c.line);
    Menu menu;
    ExpectInput(menu.Read(c.line), MenuCommand::kAsk, "");
    EXPECT_EQ(menu.Prompt("alice"), c.prompt);
    ExpectInput(menu.Read(" bob "), c.command, "bob");
    EXPECT_EQ(menu.Prompt("alice"), "alice> ");
  }
}

TEST(Menu, AnIdGivenAtOnceAsksNothing) {
  Menu menu;
  ExpectInput(menu.Read("2 bob"), MenuCommand::kDelete, "bob");
  EXPECT_FALSE(menu.asking());
  EXPECT_EQ(menu.Prompt("alice"), "alice> ");
}

TEST(Menu, AnEmptyAnswerCancelsTheQuestion) {
  Menu menu;
  menu.Read("1");
  ExpectInput(menu.Read("   "), MenuCommand::kCancelled, "");
  EXPECT_EQ(menu.Prompt("alice"), "alice> ");
  ExpectInput(menu.Read(""), MenuCommand::kNothing, "");  // at the menu an empty line does nothing
}

TEST(Menu, TheWholeAnswerIsTheIdEvenWhenItLooksLikeACommand) {
  Menu menu;
  menu.Read("1");
  ExpectInput(menu.Read("bob carol"), MenuCommand::kAdd, "bob carol");  // fails the id check later
  menu.Read("4");
  ExpectInput(menu.Read("list"), MenuCommand::kChat, "list");
  EXPECT_FALSE(menu.asking());
}

TEST(Menu, ResetDropsAPendingQuestion) {
  Menu menu;
  menu.Read("4");
  menu.Reset();  // a chat came in
  EXPECT_EQ(menu.Prompt("alice"), "alice> ");
  ExpectInput(menu.Read("bob"), MenuCommand::kUnknown, "bob");
}

}  // namespace
}  // namespace im::client
