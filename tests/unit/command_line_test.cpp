// How every notifyd-cli command reads its arguments (src/cli/command_line.h).
#include "cli/command_line.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

const std::vector<std::string_view> kKnown = {"--title", "--since"};

CommandLine Parse(const std::vector<std::string>& args) {
  CommandLine line;
  std::string error;
  EXPECT_TRUE(ParseCommandLine(args, kKnown, &line, &error)) << error;
  return line;
}

std::string ParseError(const std::vector<std::string>& args) {
  CommandLine line;
  std::string error;
  EXPECT_FALSE(ParseCommandLine(args, kKnown, &line, &error));
  return error;
}

TEST(CommandLineTest, OptionsTakeTheNextWordOrTheTextAfterEquals) {
  CommandLine line = Parse({"news", "--title", "T 1", "--since=abcdefgh:3", "body"});
  EXPECT_EQ(line.Get("--title"), "T 1");
  EXPECT_EQ(line.Get("--since"), "abcdefgh:3");
  EXPECT_EQ(line.positional, (std::vector<std::string>{"news", "body"}));
  EXPECT_FALSE(line.help);
  EXPECT_EQ(line.Get("--url"), std::nullopt);
}

TEST(CommandLineTest, TheLastOfARepeatedOptionWins) {
  EXPECT_EQ(Parse({"--title", "a", "--title=b"}).Get("--title"), "b");
}

TEST(CommandLineTest, DashAndEmptyWordsArePositional) {
  EXPECT_EQ(Parse({"-", ""}).positional, (std::vector<std::string>{"-", ""}));
}

TEST(CommandLineTest, DoubleDashEndsTheOptions) {
  CommandLine line = Parse({"--", "--title", "-x"});
  EXPECT_EQ(line.positional, (std::vector<std::string>{"--title", "-x"}));
  EXPECT_EQ(line.Get("--title"), std::nullopt);
}

TEST(CommandLineTest, HelpInEitherSpelling) {
  EXPECT_TRUE(Parse({"-h"}).help);
  EXPECT_TRUE(Parse({"news", "--help"}).help);
}

TEST(CommandLineTest, RefusesUnknownOptionsAndMissingValues) {
  EXPECT_EQ(ParseError({"--bogus=1"}), "unknown option --bogus");
  EXPECT_EQ(ParseError({"-x"}), "unknown option -x");
  EXPECT_EQ(ParseError({"news", "--title"}), "--title needs a value");
}

TEST(CommandLineTest, FlagsTakeNoValue) {
  const CommandSyntax syntax = {{"--title"}, {"--always"}};
  CommandLine line;
  std::string error;
  ASSERT_TRUE(ParseCommandLine({"--always", "--title", "T", "x"}, syntax, &line, &error)) << error;
  EXPECT_TRUE(line.Has("--always"));
  EXPECT_FALSE(line.Has("--title"));
  EXPECT_EQ(line.Get("--always"), std::nullopt);
  EXPECT_EQ(line.positional, (std::vector<std::string>{"x"}));
  CommandLine refused;
  EXPECT_FALSE(ParseCommandLine({"--always=yes"}, syntax, &refused, &error));
  EXPECT_EQ(error, "--always takes no value");
}

TEST(CommandLineTest, AFirstPositionalCanEndTheOptions) {
  // run: what follows the command is the command's own.
  const CommandSyntax syntax = {{"--channel"}, {"--always"}, true};
  CommandLine line;
  std::string error;
  ASSERT_TRUE(ParseCommandLine({"--channel", "c", "ls", "-l", "--always", "--", "-h"}, syntax,
                               &line, &error))
      << error;
  EXPECT_EQ(line.Get("--channel"), "c");
  EXPECT_FALSE(line.Has("--always"));
  EXPECT_FALSE(line.help);
  EXPECT_EQ(line.positional, (std::vector<std::string>{"ls", "-l", "--always", "--", "-h"}));
  CommandLine dashed;
  ASSERT_TRUE(ParseCommandLine({"--always", "--", "--channel"}, syntax, &dashed, &error));
  EXPECT_TRUE(dashed.Has("--always"));
  EXPECT_EQ(dashed.positional, (std::vector<std::string>{"--channel"}));
}

TEST(CommandLineTest, ChannelArgumentsFollowTheChannelNameRule) {
  std::string error;
  EXPECT_TRUE(CheckChannelArgument("news.eu-west:1@x_y", &error));
  EXPECT_TRUE(CheckChannelArgument(std::string(128, 'a'), &error));
  EXPECT_FALSE(CheckChannelArgument(std::string(129, 'a'), &error));
  EXPECT_FALSE(CheckChannelArgument("", &error));
  EXPECT_FALSE(CheckChannelArgument("a/b", &error));
  EXPECT_FALSE(CheckChannelArgument("bad\x1b[2J", &error));
  EXPECT_EQ(error,
            "\"bad\\x1B[2J\" is not a channel name (1 to 128 characters of "
            "A-Z a-z 0-9 _ - . : @)");
}

}  // namespace
}  // namespace notifyd::cli
