// [auth] tokens in the config: literal and from files ($CREDENTIALS_DIRECTORY),
// the checks on them, and that no message or FormatConfig output shows one.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_parser.h"
#include "support/scoped_env.h"

namespace notifyd::config {
namespace {

using testing_support::ScopedEnv;

constexpr const char* kFile = "notifyd.conf";
// Tokens used below; none of them may ever show up in a message.
constexpr const char* kSub = "sub-0123456789abcdef";
constexpr const char* kPub = "pub-0123456789abcdef";
constexpr const char* kPub2 = "pub2-0123456789abcdef";
constexpr const char* kAdmin = "adm-0123456789abcdef";

std::string ParseError(const std::string& text) {
  Config config;
  std::string error;
  if (ParseConfigText(text, kFile, &config, &error)) return "";
  return error;
}

Config ParseOk(const std::string& text) {
  Config config;
  std::string error;
  EXPECT_TRUE(ParseConfigText(text, kFile, &config, &error)) << error;
  return config;
}

// A temporary directory, removed (with the files written through it) at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "notifyd_creds_XXXXXX";
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& file : files_) unlink(file.c_str());
    rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Writes `contents` to NAME in the directory; returns the full path.
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string file = path_ + "/" + name;
    FILE* f = std::fopen(file.c_str(), "w");
    EXPECT_NE(f, nullptr);
    std::fwrite(contents.data(), 1, contents.size(), f);
    std::fclose(f);
    files_.push_back(file);
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// Fails the test when `text` contains any of the tokens above.
void ExpectNoSecret(const std::string& text) {
  for (const char* secret : {kSub, kPub, kPub2, kAdmin, "0123456789abcdef"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "token in: " << text;
  }
}

std::string Literal(const char* key, const std::string& value) {
  return std::string(key) + " = \"" + value + "\"\n";
}

// --- Good configs ------------------------------------------------------------

TEST(ConfigAuthTest, DefaultHasNoTokens) {
  const Config config;
  EXPECT_TRUE(config.subscribe_token.secret.empty());
  EXPECT_TRUE(config.publish_tokens.empty());
  EXPECT_TRUE(config.admin_tokens.empty());
  EXPECT_EQ(ParseOk("[auth]\n"), Config{});
}

TEST(ConfigAuthTest, LiteralTokens) {
  const Config config = ParseOk(std::string("[auth]\n") + Literal("subscribe_token", kSub) +
                                "\n[[auth.publish]]\n" + Literal("token", kPub) +
                                "channels = [\"backups-*\", \"alerts\"]\n"
                                "\n[[auth.publish]]\n" +
                                Literal("token", kPub2) + "\n[[auth.admin]]\n" +
                                Literal("token", kAdmin));
  EXPECT_EQ(config.subscribe_token, (AccessToken{kSub, "", {}}));
  ASSERT_EQ(config.publish_tokens.size(), 2u);
  EXPECT_EQ(config.publish_tokens[0], (AccessToken{kPub, "", {"backups-*", "alerts"}}));
  EXPECT_EQ(config.publish_tokens[1], (AccessToken{kPub2, "", {}}));
  ASSERT_EQ(config.admin_tokens.size(), 1u);
  EXPECT_EQ(config.admin_tokens[0], (AccessToken{kAdmin, "", {}}));
}

TEST(ConfigAuthTest, InlineArrayOfTables) {
  const Config config = ParseOk(std::string("[auth]\npublish = [{ token = \"") + kPub +
                                "\", channels = [\"*\"] }]\nadmin = [{ token = \"" + kAdmin +
                                "\" }]\n");
  ASSERT_EQ(config.publish_tokens.size(), 1u);
  EXPECT_EQ(config.publish_tokens[0].channels, std::vector<std::string>{"*"});
  ASSERT_EQ(config.admin_tokens.size(), 1u);
}

TEST(ConfigAuthTest, AuthSectionMayComeAnywhere) {
  const Config config = ParseOk(std::string("[[auth.admin]]\n") + Literal("token", kAdmin) +
                                "\n[server]\nport = 1\n");
  EXPECT_EQ(config.port, 1);
  ASSERT_EQ(config.admin_tokens.size(), 1u);
}

TEST(ConfigAuthTest, TokenFileAbsoluteIsTrimmed) {
  TempDir dir;
  const std::string path = dir.Write("admin", std::string("  \n") + kAdmin + "\r\n\n");
  const Config config = ParseOk("[[auth.admin]]\ntoken_file = \"" + path + "\"\n");
  ASSERT_EQ(config.admin_tokens.size(), 1u);
  EXPECT_EQ(config.admin_tokens[0].secret, kAdmin);
  EXPECT_EQ(config.admin_tokens[0].file, path);
}

TEST(ConfigAuthTest, RelativeTokenFileComesFromCredentialsDirectory) {
  TempDir dir;
  dir.Write("publish", std::string(kPub) + "\n");
  dir.Write("subscribe", kSub);
  ScopedEnv env("CREDENTIALS_DIRECTORY", dir.path().c_str());
  const Config config = ParseOk(
      "[auth]\nsubscribe_token_file = \"subscribe\"\n[[auth.publish]]\n"
      "token_file = \"publish\"\nchannels = [\"alerts\"]\n");
  EXPECT_EQ(config.subscribe_token, (AccessToken{kSub, "subscribe", {}}));
  ASSERT_EQ(config.publish_tokens.size(), 1u);
  EXPECT_EQ(config.publish_tokens[0], (AccessToken{kPub, "publish", {"alerts"}}));
}

TEST(ConfigAuthTest, TokenFileIsReadAgainOnEveryLoad) {
  TempDir dir;
  const std::string token = dir.Write("t", kPub);
  const std::string conf = dir.Write("notifyd.conf", "[[auth.publish]]\ntoken_file = \"" + token + "\"\n");
  Config config;
  std::string error;
  ASSERT_TRUE(LoadConfigFile(conf, &config, &error)) << error;
  EXPECT_EQ(config.publish_tokens.at(0).secret, kPub);
  dir.Write("t", kPub2);
  ASSERT_TRUE(LoadConfigFile(conf, &config, &error)) << error;
  EXPECT_EQ(config.publish_tokens.at(0).secret, kPub2);
}

TEST(ConfigAuthTest, TokenLengthLimits) {
  EXPECT_EQ(ParseError("[[auth.admin]]\n" + Literal("token", std::string(16, 'x'))), "");
  EXPECT_EQ(ParseError("[[auth.admin]]\n" + Literal("token", std::string(4096, 'x'))), "");
  EXPECT_EQ(ParseError("[[auth.admin]]\n" + Literal("token", std::string(15, 'x'))),
            "notifyd.conf:2: auth.admin[1].token: too short: a token needs at least 16 bytes "
            "(make one with `openssl rand -hex 32`)");
  EXPECT_EQ(ParseError("[[auth.admin]]\n" + Literal("token", std::string(4097, 'x'))),
            "notifyd.conf:2: auth.admin[1].token: too long: a token may have at most 4096 bytes");
}

// --- Bad configs: every message names the key and line, never the token ------

TEST(ConfigAuthTest, BadTokenCharacters) {
  for (const std::string& bad : {std::string("0123456789abcdef with space"),
                                 std::string("0123456789abcdef\\ttab"),
                                 std::string("0123456789abcdef\\u0000"),
                                 std::string("0123456789abcdef\xc3\xa9")}) {
    const std::string error = ParseError("[auth]\n" + Literal("subscribe_token", bad));
    EXPECT_EQ(error,
              "notifyd.conf:2: auth.subscribe_token: a token may hold only printable ASCII "
              "characters, without spaces")
        << bad;
    ExpectNoSecret(error);
  }
}

TEST(ConfigAuthTest, WrongTypes) {
  EXPECT_EQ(ParseError("[auth]\nsubscribe_token = 5\n"),
            "notifyd.conf:2: auth.subscribe_token: expected a string, got an integer");
  EXPECT_EQ(ParseError("[auth]\nsubscribe_token_file = true\n"),
            "notifyd.conf:2: auth.subscribe_token_file: expected a string (a file name), got a "
            "boolean");
  EXPECT_EQ(ParseError("[auth]\npublish = \"x\"\n"),
            "notifyd.conf:2: auth.publish: expected an array of tables ([[auth.publish]]), got a "
            "string");
  EXPECT_EQ(ParseError(std::string("[auth.admin]\n") + Literal("token", kAdmin)),
            "notifyd.conf:1: auth.admin: expected an array of tables ([[auth.admin]]), got a "
            "table");
  EXPECT_EQ(ParseError("[auth]\nadmin = [1, 2]\n"),
            "notifyd.conf:2: auth.admin: expected an array of tables ([[auth.admin]]), got an "
            "array");
  EXPECT_EQ(ParseError("[[auth.publish]]\ntoken = 1234567890123456\n"),
            "notifyd.conf:2: auth.publish[1].token: expected a string, got an integer");
}

TEST(ConfigAuthTest, UnknownKeys) {
  EXPECT_EQ(ParseError("[auth]\nsubscribe_tokn = \"x\"\n"),
            "notifyd.conf:2: unknown key 'subscribe_tokn' in [auth]; did you mean "
            "'subscribe_token'?");
  EXPECT_EQ(ParseError(std::string("[[auth.publish]]\n") + Literal("token", kPub) +
                       "chanels = [\"a\"]\n"),
            "notifyd.conf:3: unknown key 'chanels' in [[auth.publish]]; did you mean "
            "'channels'?");
  EXPECT_EQ(ParseError(std::string("[[auth.admin]]\n") + Literal("token", kAdmin) +
                       "channels = [\"a\"]\n"),
            "notifyd.conf:3: unknown key 'channels' in [[auth.admin]]; an admin token may use "
            "every channel");
  EXPECT_EQ(ParseError(std::string("[[auth.admin]]\n") + Literal("token", kAdmin) +
                       "role = \"x\"\n"),
            "notifyd.conf:3: unknown key 'role' in [[auth.admin]]; known keys: token, "
            "token_file");
  EXPECT_EQ(ParseError("[[auth.reader]]\ntoken = \"x\"\n"),
            "notifyd.conf:1: unknown key 'reader' in [auth]; known keys: subscribe_token, "
            "subscribe_token_file, publish, admin");
}

TEST(ConfigAuthTest, EntryNeedsExactlyOneTokenSource) {
  EXPECT_EQ(ParseError("[server]\nport = 1\n\n[[auth.publish]]\nchannels = [\"a\"]\n"),
            "notifyd.conf:4: auth.publish[1]: needs token or token_file");
  TempDir dir;
  const std::string path = dir.Write("t", kPub2);
  const std::string error =
      ParseError(std::string("[[auth.publish]]\n") + Literal("token", kPub) +
                 "token_file = \"" + path + "\"\n");
  EXPECT_EQ(error, "notifyd.conf:3: auth.publish[1]: set token or token_file, not both");
  ExpectNoSecret(error);
  EXPECT_EQ(ParseError(std::string("[auth]\n") + Literal("subscribe_token", kSub) +
                       "subscribe_token_file = \"" + path + "\"\n"),
            "notifyd.conf:3: auth: set subscribe_token or subscribe_token_file, not both");
}

TEST(ConfigAuthTest, ErrorsInLaterEntriesHaveTheirLine) {
  const std::string error = ParseError(std::string("[[auth.publish]]\n") + Literal("token", kPub) +
                                       "\n[[auth.publish]]\n" + Literal("token", "short"));
  EXPECT_TRUE(error.rfind("notifyd.conf:5: auth.publish[2].token: too short", 0) == 0) << error;
  // The earliest problem wins, also across entries and sections.
  EXPECT_EQ(ParseError(std::string("[[auth.publish]]\ntoken = 1\n\n[[auth.admin]]\n") +
                       "token = 2\n[server]\nport = \"x\"\n"),
            "notifyd.conf:2: auth.publish[1].token: expected a string, got an integer");
}

TEST(ConfigAuthTest, BadChannels) {
  const std::string head = std::string("[[auth.publish]]\n") + Literal("token", kPub);
  EXPECT_EQ(ParseError(head + "channels = [\"a*b\"]\n"),
            "notifyd.conf:3: auth.publish[1].channels: \"a*b\" is not a channel pattern (a "
            "channel name of A-Z a-z 0-9 _ - . : @, optionally ending in '*', or \"*\" alone)");
  EXPECT_NE(ParseError(head + "channels = [\"ok\", \"*x\"]\n").find("\"*x\" is not a channel"),
            std::string::npos);
  EXPECT_NE(ParseError(head + "channels = [\"\"]\n").find("\"\" is not a channel pattern"),
            std::string::npos);
  EXPECT_EQ(ParseError(head + "channels = []\n"),
            "notifyd.conf:3: auth.publish[1].channels: must not be empty (leave it out to allow "
            "every channel)");
  EXPECT_EQ(ParseError(head + "channels = \"alerts\"\n"),
            "notifyd.conf:3: auth.publish[1].channels: expected an array of channel patterns, "
            "got a string");
  EXPECT_EQ(ParseError(head + "channels = [\"a\", 2]\n"),
            "notifyd.conf:3: auth.publish[1].channels: expected channel patterns (strings), got "
            "an integer");
}

TEST(ConfigAuthTest, DuplicateTokensAreRefused) {
  std::string error = ParseError(std::string("[[auth.publish]]\n") + Literal("token", kPub) +
                                 "\n[[auth.admin]]\n" + Literal("token", kPub));
  EXPECT_EQ(error,
            "notifyd.conf:4: auth.admin[1]: the same token as auth.publish[1]; give each token "
            "one role");
  ExpectNoSecret(error);
  error = ParseError(std::string("[[auth.admin]]\n") + Literal("token", kSub) + "\n[auth]\n" +
                     Literal("subscribe_token", kSub));
  EXPECT_EQ(error,
            "notifyd.conf:5: auth.subscribe_token: the same token as auth.admin[1]; give each "
            "token one role");
  TempDir dir;
  const std::string path = dir.Write("t", std::string(kPub) + "\n");
  error = ParseError(std::string("[[auth.publish]]\n") + Literal("token", kPub) +
                     "[[auth.publish]]\ntoken_file = \"" + path + "\"\n");
  EXPECT_EQ(error,
            "notifyd.conf:3: auth.publish[2]: the same token as auth.publish[1]; give each "
            "token one role");
}

TEST(ConfigAuthTest, TokenFileProblems) {
  ScopedEnv env("CREDENTIALS_DIRECTORY", nullptr);
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"admin\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: relative path \"admin\" needs "
            "$CREDENTIALS_DIRECTORY (set by systemd for LoadCredential=), which is not set; give "
            "an absolute path");
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: must be a file name");
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"/nonexistent/admin\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: cannot read \"/nonexistent/admin\": No "
            "such file or directory");
  EXPECT_EQ(ParseError("[auth]\nsubscribe_token_file = \"/\"\n"),
            "notifyd.conf:2: auth.subscribe_token_file: cannot read \"/\": Is a directory");
  TempDir dir;
  const std::string empty = dir.Write("empty", "");
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"" + empty + "\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: \"" + empty + "\" is empty");
  const std::string blank = dir.Write("blank", " \n\t\r\n");
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"" + blank + "\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: \"" + blank + "\" is empty");
  const std::string spaced = dir.Write("spaced", "0123456789abcdef 0123456789abcdef\n");
  const std::string error = ParseError("[[auth.admin]]\ntoken_file = \"" + spaced + "\"\n");
  EXPECT_EQ(error, "notifyd.conf:2: auth.admin[1].token_file: \"" + spaced +
                       "\": a token may hold only printable ASCII characters, without spaces");
  ExpectNoSecret(error);
  const std::string short_token = dir.Write("short", "abc\n");
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"" + short_token + "\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: \"" + short_token +
                "\": too short: a token needs at least 16 bytes (make one with `openssl rand "
                "-hex 32`)");
}

TEST(ConfigAuthTest, RelativeTokenFileMissingInCredentialsDirectory) {
  TempDir dir;
  ScopedEnv env("CREDENTIALS_DIRECTORY", dir.path().c_str());
  EXPECT_EQ(ParseError("[[auth.admin]]\ntoken_file = \"admin\"\n"),
            "notifyd.conf:2: auth.admin[1].token_file: cannot read \"" + dir.path() +
                "/admin\": No such file or directory");
}

// --- FormatConfig never shows a token ----------------------------------------

TEST(ConfigAuthTest, FormatConfigRedactsLiteralTokens) {
  Config config;
  config.subscribe_token = {kSub, "", {}};
  config.publish_tokens = {{kPub, "", {"backups-*", "alerts"}}, {kPub2, "", {}}};
  config.admin_tokens = {{kAdmin, "", {}}};
  const std::string text = FormatConfig(config);
  ExpectNoSecret(text);
  EXPECT_NE(text.find("[auth]\n"
                      "subscribe_token = \"<redacted>\"\n"
                      "\n"
                      "[[auth.publish]]\n"
                      "token = \"<redacted>\"\n"
                      "channels = [\"backups-*\", \"alerts\"]\n"
                      "\n"
                      "[[auth.publish]]\n"
                      "token = \"<redacted>\"\n"
                      "\n"
                      "[[auth.admin]]\n"
                      "token = \"<redacted>\"\n"
                      "\n"
                      "[history]\n"),
            std::string::npos)
      << text;
}

TEST(ConfigAuthTest, FormatConfigNamesTokenFilesAndRoundTrips) {
  TempDir dir;
  dir.Write("subscribe", kSub);
  dir.Write("publish", kPub);
  const std::string admin = dir.Write("admin", kAdmin);
  ScopedEnv env("CREDENTIALS_DIRECTORY", dir.path().c_str());
  const Config config = ParseOk(
      "[auth]\nsubscribe_token_file = \"subscribe\"\n[[auth.publish]]\ntoken_file = "
      "\"publish\"\nchannels = [\"a\", \"b-*\"]\n[[auth.admin]]\ntoken_file = \"" +
      admin + "\"\n");
  const std::string text = FormatConfig(config);
  ExpectNoSecret(text);
  EXPECT_NE(text.find("subscribe_token_file = \"subscribe\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[[auth.publish]]\ntoken_file = \"publish\"\nchannels = [\"a\", \"b-*\"]\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[[auth.admin]]\ntoken_file = \"" + admin + "\"\n"), std::string::npos)
      << text;
  EXPECT_EQ(ParseOk(text), config) << text;
}

}  // namespace
}  // namespace notifyd::config
