// libFuzzer target: the config parser (config::ParseConfigText). Beyond "no
// crash, no exception, no sanitizer report": a failure names the file and a
// line and leaves the output alone; a success prints (FormatConfig) without
// any literal token and, when no token is literal, reads back to the same
// Config. Relative token_file names resolve in a temporary
// $CREDENTIALS_DIRECTORY holding two token files.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/config_parser.h"
#include "fuzz_check.h"

namespace {

using namespace notifyd;

void WriteFile(const std::string& path, const char* text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return;
  std::fputs(text, f);
  std::fclose(f);
}

// Sets up $CREDENTIALS_DIRECTORY once per process.
void Setup() {
  static bool done = false;
  if (done) return;
  done = true;
  char pattern[] = "/tmp/notifyd-fuzz-creds-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return;
  const std::string directory = pattern;
  WriteFile(directory + "/a", "fuzz-token-aaaaaaaaaaaa\n");
  WriteFile(directory + "/b", "  fuzz-token-bbbbbbbbbbbb  ");
  setenv("CREDENTIALS_DIRECTORY", directory.c_str(), 1);
}

bool StartsWith(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Counts the tokens given literally (printed as "<redacted>").
size_t LiteralTokens(const config::Config& c) {
  size_t n = !c.subscribe_token.secret.empty() && c.subscribe_token.file.empty() ? 1 : 0;
  for (const auto* list : {&c.publish_tokens, &c.admin_tokens}) {
    for (const config::AccessToken& token : *list) n += token.file.empty() ? 1 : 0;
  }
  return n;
}

// No "token = <secret>" (nor "subscribe_token = ..."). Other keys may hold the
// same text by chance (cors_origin = "<a token>"), which is not a leak.
void CheckNoLiteralToken(const std::string& text, const config::AccessToken& token) {
  if (token.secret.empty() || !token.file.empty()) return;
  FUZZ_CHECK(text.find("token = " + config::QuoteTomlString(token.secret)) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Setup();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  config::Config sentinel;
  sentinel.port = 4242;
  config::Config parsed = sentinel;
  std::string error;
  if (!config::ParseConfigText(text, "fuzz.conf", &parsed, &error)) {
    FUZZ_CHECK(StartsWith(error, "fuzz.conf:"));
    FUZZ_CHECK(parsed == sentinel);
    return 0;
  }
  const std::string formatted = config::FormatConfig(parsed);
  CheckNoLiteralToken(formatted, parsed.subscribe_token);
  for (const auto* list : {&parsed.publish_tokens, &parsed.admin_tokens}) {
    for (const config::AccessToken& token : *list) CheckNoLiteralToken(formatted, token);
  }
  if (LiteralTokens(parsed) > 0) return 0;
  config::Config again;
  std::string again_error;
  FUZZ_CHECK(config::ParseConfigText(formatted, "formatted", &again, &again_error));
  FUZZ_CHECK(again == parsed);
  return 0;
}
