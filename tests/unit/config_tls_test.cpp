// [tls] in the config: the port, the certificate and key file names (absolute
// or in $CREDENTIALS_DIRECTORY), and the rules between them. Whether the
// files hold a usable certificate is the TLS layer's check
// (tests/integration/test_tls.py, --check-config).
#include <string>

#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_parser.h"
#include "support/scoped_env.h"

namespace notifyd::config {
namespace {

using testing_support::ScopedEnv;

std::string ParseError(const std::string& text) {
  Config config;
  std::string error;
  if (ParseConfigText(text, "notifyd.conf", &config, &error)) return "";
  return error;
}

Config ParseOk(const std::string& text) {
  Config config;
  std::string error;
  EXPECT_TRUE(ParseConfigText(text, "notifyd.conf", &config, &error)) << error;
  return config;
}

TEST(ConfigTlsTest, OffByDefault) {
  const Config config = ParseOk("");
  EXPECT_EQ(config.tls_port, 0);
  EXPECT_EQ(config.tls_certificate, "");
  EXPECT_EQ(config.tls_key, "");
}

TEST(ConfigTlsTest, PortWithAbsoluteFiles) {
  const Config config =
      ParseOk("[tls]\nport = 8443\ncertificate = \"/etc/c.pem\"\nkey = \"/etc/k.pem\"\n");
  EXPECT_EQ(config.tls_port, 8443);
  EXPECT_EQ(config.tls_certificate, "/etc/c.pem");
  EXPECT_EQ(config.tls_key, "/etc/k.pem");
}

TEST(ConfigTlsTest, RelativeFilesNeedTheCredentialsDirectory) {
  const std::string text = "[tls]\nport = 8443\ncertificate = \"cert\"\nkey = \"key\"\n";
  {
    ScopedEnv env("CREDENTIALS_DIRECTORY", "/run/credentials/notifyd.service");
    const Config config = ParseOk(text);
    EXPECT_EQ(config.tls_certificate, "cert");  // as written: resolved when loaded
  }
  ScopedEnv env("CREDENTIALS_DIRECTORY", nullptr);
  EXPECT_EQ(ParseError(text),
            "notifyd.conf:3: tls.certificate: relative path \"cert\" needs "
            "$CREDENTIALS_DIRECTORY (set by systemd for LoadCredential=), which is not set; give "
            "an absolute path");
}

TEST(ConfigTlsTest, PortNeedsBothFiles) {
  EXPECT_EQ(ParseError("[tls]\nport = 8443\nkey = \"/k.pem\"\n"),
            "notifyd.conf:2: tls.certificate: required with tls.port (a PEM file, absolute or "
            "relative to $CREDENTIALS_DIRECTORY)");
  EXPECT_EQ(ParseError("[tls]\nport = 8443\ncertificate = \"/c.pem\"\n"),
            "notifyd.conf:2: tls.key: required with tls.port (a PEM file, absolute or relative "
            "to $CREDENTIALS_DIRECTORY)");
  // Files without a port: staged, not served.
  EXPECT_EQ(ParseOk("[tls]\ncertificate = \"/c.pem\"\nkey = \"/k.pem\"\n").tls_port, 0);
}

TEST(ConfigTlsTest, PortMustDifferFromThePlainOne) {
  EXPECT_EQ(ParseError("[server]\nport = 8443\n[tls]\nport = 8443\ncertificate = \"/c\"\n"
                       "key = \"/k\"\n"),
            "notifyd.conf:4: tls.port (8443) must differ from server.port");
  EXPECT_EQ(ParseError("[tls]\nport = 70000\n"),
            "notifyd.conf:2: tls.port: 70000 is out of range (0..65535)");
  EXPECT_EQ(ParseError("[tls]\ncertificate = \"\"\n"),
            "notifyd.conf:2: tls.certificate: must not be empty (leave the key out instead)");
}

TEST(ConfigTlsTest, CredentialPath) {
  std::string path, why;
  ASSERT_TRUE(CredentialPath("/etc/notifyd/c.pem", &path, &why)) << why;
  EXPECT_EQ(path, "/etc/notifyd/c.pem");
  {
    ScopedEnv env("CREDENTIALS_DIRECTORY", "/run/credentials/notifyd.service");
    ASSERT_TRUE(CredentialPath("tls.pem", &path, &why)) << why;
    EXPECT_EQ(path, "/run/credentials/notifyd.service/tls.pem");
  }
  {
    ScopedEnv env("CREDENTIALS_DIRECTORY", "");
    EXPECT_FALSE(CredentialPath("tls.pem", &path, &why));
    EXPECT_NE(why.find("needs $CREDENTIALS_DIRECTORY"), std::string::npos) << why;
  }
  EXPECT_FALSE(CredentialPath("", &path, &why));
  EXPECT_EQ(why, "must be a file name");
}

TEST(ConfigTlsTest, FormatConfigRoundTrips) {
  const std::string text =
      "[tls]\nport = 443\ncertificate = \"/etc/c \\\"x\\\".pem\"\nkey = \"/etc/k.pem\"\n";
  const Config config = ParseOk(text);
  const std::string formatted = FormatConfig(config);
  EXPECT_NE(formatted.find("[tls]\nport = 443\ncertificate = \"/etc/c \\\"x\\\".pem\"\n"
                           "key = \"/etc/k.pem\"\n"),
            std::string::npos)
      << formatted;
  EXPECT_EQ(ParseOk(formatted), config);
}

}  // namespace
}  // namespace notifyd::config
