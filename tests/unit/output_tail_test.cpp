// The end of a command's output that notifyd-cli run keeps (src/cli/output_tail.h).
#include "cli/output_tail.h"

#include <string>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

TEST(OutputTailTest, KeepsTheLastLinesInTheOrderTheyCame) {
  OutputTail tail(3, 100);
  tail.Add(OutputTail::kStdout, "one\ntwo\n");
  tail.Add(OutputTail::kStderr, "three\n");
  tail.Add(OutputTail::kStdout, "four\nfive\n");
  EXPECT_EQ(tail.Text(), "three\nfour\nfive");
  EXPECT_EQ(tail.total_lines(), 5u);
}

TEST(OutputTailTest, LinesMayComeInPiecesAndEachStreamHasItsOwnUnfinishedLine) {
  OutputTail tail;
  tail.Add(OutputTail::kStdout, "hel");
  tail.Add(OutputTail::kStderr, "warn");
  tail.Add(OutputTail::kStdout, "lo\nwor");
  tail.Add(OutputTail::kStderr, "ing\n");
  EXPECT_EQ(tail.Text(), "hello\nwarning");
  tail.Finish();  // the unfinished "wor" counts at the end
  EXPECT_EQ(tail.Text(), "hello\nwarning\nwor");
  EXPECT_EQ(tail.total_lines(), 3u);
}

TEST(OutputTailTest, EmptyLinesCountAndCarriageReturnsBeforeNewlinesGo) {
  OutputTail tail;
  tail.Add(OutputTail::kStdout, "a\r\n\nb\r\n");
  tail.Finish();
  EXPECT_EQ(tail.Text(), "a\n\nb");
  EXPECT_EQ(tail.total_lines(), 3u);
}

TEST(OutputTailTest, NoOutputIsNoLine) {
  OutputTail tail;
  tail.Finish();
  EXPECT_EQ(tail.Text(), "");
  EXPECT_EQ(tail.total_lines(), 0u);
}

TEST(OutputTailTest, LongLinesAreCutAndSaySo) {
  OutputTail tail(20, 8);
  tail.Add(OutputTail::kStdout, std::string(1000, 'x') + "\nshort\n");
  EXPECT_EQ(tail.Text(), "xxxxxxxx [\xE2\x80\xA6 992 more bytes]\nshort");
}

TEST(OutputTailTest, ACutNeverSplitsACharacter) {
  OutputTail tail(20, 5);
  tail.Add(OutputTail::kStdout,
           "abc\xE2\x82\xAC"
           "def\n");  // "abc€def": the cut falls in €
  EXPECT_EQ(tail.Text(), "abc [\xE2\x80\xA6 6 more bytes]");
}

TEST(OutputTailTest, MemoryStaysBoundedForHugeOutputWithoutLineBreaks) {
  OutputTail tail(2, 16);
  std::string chunk(65536, 'y');
  for (int i = 0; i < 200; ++i) tail.Add(OutputTail::kStdout, chunk);  // 12.5 MiB, one line
  tail.Finish();
  EXPECT_EQ(tail.Text(), std::string(16, 'y') + " [\xE2\x80\xA6 13107184 more bytes]");
  EXPECT_EQ(tail.total_lines(), 1u);
}

TEST(OutputTailTest, BinaryAndTerminalControlsBecomeSafeText) {
  OutputTail tail;
  tail.Add(OutputTail::kStdout, std::string("\x1B[31mred\x1B[0m\tok\n", 16));
  tail.Add(OutputTail::kStdout, std::string("nul\0bel\x07 bad\xFF utf8 \xC3\xA9\n", 22));
  tail.Add(OutputTail::kStdout, "progress 10%\rprogress 100%\n");
  EXPECT_EQ(tail.Text(),
            "red\tok\n"
            "nul\xEF\xBF\xBD"
            "bel\xEF\xBF\xBD bad\xEF\xBF\xBD utf8 \xC3\xA9\n"
            "progress 10%\xEF\xBF\xBDprogress 100%");
}

}  // namespace
}  // namespace notifyd::cli
