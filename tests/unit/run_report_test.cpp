// What notifyd-cli run makes of a command that ended (src/cli/run_report.h).
#include "cli/run_report.h"

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <string>

#include <gtest/gtest.h>

namespace notifyd::cli {
namespace {

// waitpid() statuses as Linux builds them.
int Exited(int code) { return code << 8; }
int Killed(int signal) { return signal; }

TEST(RunReportTest, ExitStatusesPassThroughAsAShellReportsThem) {
  std::optional<int> signal;
  EXPECT_EQ(ExitCodeOfWaitStatus(Exited(0), &signal), 0);
  EXPECT_EQ(ExitCodeOfWaitStatus(Exited(3), &signal), 3);
  EXPECT_EQ(ExitCodeOfWaitStatus(Exited(255), &signal), 255);
  EXPECT_EQ(signal, std::nullopt);
  ASSERT_TRUE(WIFSIGNALED(Killed(SIGKILL)));
  EXPECT_EQ(ExitCodeOfWaitStatus(Killed(SIGKILL), &signal), 137);
  EXPECT_EQ(signal, SIGKILL);
  EXPECT_EQ(ExitCodeOfWaitStatus(Killed(SIGTERM), &signal), 143);
  EXPECT_EQ(ExitCodeOfWaitStatus(Killed(SIGSEGV) | 0x80, &signal), 139);  // with a core
}

TEST(RunReportTest, ACommandThatCannotStartExits127Or126) {
  EXPECT_EQ(ExitCodeOfStartError(ENOENT), 127);
  EXPECT_EQ(ExitCodeOfStartError(ENOTDIR), 127);
  EXPECT_EQ(ExitCodeOfStartError(EACCES), 126);
  EXPECT_EQ(ExitCodeOfStartError(ENOEXEC), 126);
  EXPECT_EQ(ExitCodeOfStartError(E2BIG), 126);
}

TEST(RunReportTest, SignalsByName) {
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(0), "signal 0");
  EXPECT_EQ(SignalName(1000), "signal 1000");
}

TEST(RunReportTest, TheCommandIsQuotedAsAShellWouldReadIt) {
  EXPECT_EQ(QuotedCommand({"/usr/bin/backup", "--to=/mnt/b", "a,b+c@d%e"}),
            "/usr/bin/backup --to=/mnt/b a,b+c@d%e");
  EXPECT_EQ(QuotedCommand({"sh", "-c", "echo 'hi' $HOME", ""}),
            "sh -c 'echo '\\''hi'\\'' $HOME' ''");
}

TEST(RunReportTest, TheTitleSaysHowItEnded) {
  CommandResult result;
  std::vector<std::string> argv = {"/usr/local/bin/backup", "--full"};
  EXPECT_EQ(DescribeRun(argv, std::nullopt, result, "", 0, "h").title, "backup succeeded");
  result.exit_code = 3;
  EXPECT_EQ(DescribeRun(argv, std::nullopt, result, "", 0, "h").title, "backup failed (exit 3)");
  EXPECT_EQ(DescribeRun(argv, "nightly", result, "", 0, "h").title, "nightly failed (exit 3)");
  result.exit_code = 137;
  result.signal = SIGKILL;
  EXPECT_EQ(DescribeRun(argv, std::nullopt, result, "", 0, "h").title,
            "backup failed (killed by SIGKILL)");
  result = CommandResult{127, std::nullopt, "No such file or directory", {}};
  RunNotification missing = DescribeRun({"bakup"}, std::nullopt, result, "", 0, "h");
  EXPECT_EQ(missing.title, "bakup could not be started (exit 127)");
  EXPECT_EQ(missing.body, "cannot run bakup: No such file or directory");
}

TEST(RunReportTest, TheBodyIsTheOutputAndTheDataSaysTheRest) {
  CommandResult result{1, std::nullopt, std::nullopt, std::chrono::milliseconds(12345)};
  RunNotification n =
      DescribeRun({"rsync", "-a", "src dir"}, std::nullopt, result, "line 1\nline 2", 42, "db1");
  EXPECT_EQ(n.body, "line 1\nline 2");
  EXPECT_EQ(n.data,
            "{\"command\":\"rsync -a 'src dir'\",\"exit\":1,\"duration_s\":12.345,"
            "\"host\":\"db1\",\"output_lines\":42}");
  result = CommandResult{143, SIGTERM, std::nullopt, std::chrono::milliseconds(5)};
  n = DescribeRun({"sleep", "9"}, std::nullopt, result, "", 0, "db1");
  EXPECT_EQ(n.body, "(no output)");
  EXPECT_EQ(n.data,
            "{\"command\":\"sleep 9\",\"exit\":143,\"signal\":\"SIGTERM\",\"duration_s\":0.005,"
            "\"host\":\"db1\",\"output_lines\":0}");
}

TEST(RunReportTest, TextThatIsNotUtf8IsMadeValid) {
  CommandResult result;
  result.exit_code = 1;
  RunNotification n = DescribeRun({"bad\xFFname"}, std::nullopt, result, "", 0, "h");
  EXPECT_EQ(n.title, "bad\xEF\xBF\xBDname failed (exit 1)");
  EXPECT_EQ(n.data.find('\xFF'), std::string::npos);
}

}  // namespace
}  // namespace notifyd::cli
