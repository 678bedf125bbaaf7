#include "config/config_parser.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "core/channel_pattern.h"
#include "http/client_address.h"

namespace notifyd::config {

namespace {

using Line = uint32_t;

// A config file is a few dozen lines; the cap only stops `--config /dev/zero`
// from eating memory.
constexpr size_t kMaxConfigBytes = 1 << 20;

// --- Text for messages and for FormatConfig ----------------------------------

// Shortest text that reads back as the same double. Plain decimals for the
// magnitudes a config uses; exponent form only for extreme values.
std::string FormatNumber(double value) {
  char buffer[64];
  const double magnitude = std::fabs(value);
  const bool plain = value == 0 || (std::isfinite(value) && magnitude >= 1e-4 && magnitude < 1e15);
  const std::to_chars_result result =
      plain ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed)
            : std::to_chars(buffer, buffer + sizeof buffer, value);
  if (result.ec != std::errc()) return "?";
  return std::string(buffer, result.ptr);
}

// A TOML float literal: FormatNumber() plus ".0" when it would read as an integer.
std::string FormatFloat(double value) {
  std::string text = FormatNumber(value);
  if (text.find_first_of(".eni") == std::string::npos) text += ".0";  // not 1e+20, inf, nan
  return text;
}

// "a string", "an integer", ... as in "expected an integer, got a string".
const char* TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown value";
}

// Keys and section names come from the file and may hold anything a quoted TOML
// key can; bare-key characters print as they are, anything else quoted.
bool IsBareKey(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ShowKey(std::string_view key) {
  return IsBareKey(key) ? "'" + std::string(key) + "'" : QuoteTomlString(key);
}

std::string ShowSection(std::string_view section) {
  return "[" + (IsBareKey(section) ? std::string(section) : QuoteTomlString(section)) + "]";
}

// Optimal string alignment distance: edits, counting a swap of neighbours as one.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate `word` is most likely a typo of, or "" when none is close.
std::string_view ClosestMatch(std::string_view word,
                              const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_distance = 0;
  for (std::string_view candidate : candidates) {
    const size_t allowed = candidate.size() >= 6 ? 2 : 1;
    const size_t distance = EditDistance(word, candidate);
    if (distance <= allowed && (best.empty() || distance < best_distance)) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

// --- Problems found so far ----------------------------------------------------

// Keeps the problem on the earliest line. toml++ tables iterate in key order,
// not file order, so "the first problem found" would depend on key names.
class Problems {
 public:
  /// Records a problem at `line`; only the earliest one is kept.
  void Add(Line line, std::string message) {
    if (found_ && line >= line_) return;
    found_ = true;
    line_ = line;
    message_ = std::move(message);
  }
  /// True when nothing is wrong.
  bool None() const { return !found_; }
  /// "FILE:LINE: message".
  std::string Located(const std::string& file_name) const {
    return file_name + ":" + std::to_string(line_) + ": " + message_;
  }

 private:
  bool found_ = false;
  Line line_ = 0;
  std::string message_;
};

// A token as read, for the check that no token is configured twice.
struct SeenToken {
  std::string name;  ///< "auth.subscribe_token", "auth.publish[2]", ...
  Line line;
  std::string secret;
};

struct ParseState {
  Config config;
  Problems problems;
  std::map<std::string, Line> lines;  ///< "section.key" -> line of each key present.
  std::vector<SeenToken> tokens;      ///< Every token read, in no particular order.
};

// Where a key is named. A table's key is on the first header that mentions it
// ("[server.x]" before "[server]"); fall back to the value for safety.
Line KeyLine(const toml::key& key, const toml::node& node) {
  const Line line = key.source().begin.line;
  return line != 0 ? line : node.source().begin.line;
}

// Reads all of `path`; on failure returns false with errno's value in *err.
bool ReadFile(const std::string& path, std::string* contents, int* err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return false;
  }
  char buffer[16384];
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      contents->append(buffer, static_cast<size_t>(n));
      if (contents->size() > kMaxConfigBytes) {
        *err = EFBIG;
        ok = false;
        break;
      }
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      *err = errno;
      ok = false;
      break;
    }
  }
  ::close(fd);
  return ok;
}


// --- One codec per value type ------------------------------------------------

// How one key reads its value into a Config and writes it back as TOML.
struct KeyCodec {
  // Checks `node` and stores it in *config; on failure sets *why to the message
  // that follows "section.key: " and leaves *config alone.
  std::function<bool(const toml::node& node, Config* config, std::string* why)> parse;
  // The key's value in `config` as a TOML value; "" leaves the key out.
  std::function<std::string(const Config& config)> format;
  // Instead of parse/format, for an array of tables ([[auth.publish]]): reads
  // the whole array (`name` is "section.key"), reporting each problem at its
  // own line; and writes it back as "[[section.key]]" blocks.
  std::function<void(const toml::node& node, const std::string& name, ParseState* state)> nested =
      nullptr;
  std::function<std::string(const std::string& name, const Config& config)> format_blocks =
      nullptr;
};

std::string Expected(const char* what, const toml::node& node) {
  return std::string("expected ") + what + ", got " + TypeName(node.type());
}

std::string OutOfRange(const std::string& shown, const std::string& min, const std::string& max) {
  return shown + " is out of range (" + min + ".." + max + ")";
}

template <typename T>
KeyCodec IntegerKey(T Config::*field, int64_t min, int64_t max) {
  return {[=](const toml::node& node, Config* config, std::string* why) {
            const toml::value<int64_t>* value = node.as_integer();
            if (value == nullptr) {
              *why = Expected("an integer", node);
              return false;
            }
            const int64_t v = value->get();
            if (v < min || v > max) {
              *why = OutOfRange(std::to_string(v), std::to_string(min), std::to_string(max));
              return false;
            }
            config->*field = static_cast<T>(v);
            return true;
          },
          [=](const Config& config) { return std::to_string(config.*field); }};
}

// A number that may be written as an integer or a float; `what` names it in
// messages ("a number of seconds (integer or float)").
KeyCodec NumberKey(double Config::*field, double min, double max, const char* what) {
  return {[=](const toml::node& node, Config* config, std::string* why) {
            double v = 0;
            std::string shown;  // the value as written, for the message
            if (const toml::value<int64_t>* integer = node.as_integer()) {
              v = static_cast<double>(integer->get());
              shown = std::to_string(integer->get());
            } else if (const toml::value<double>* number = node.as_floating_point()) {
              v = number->get();
              shown = FormatNumber(v);
            } else {
              *why = Expected(what, node);
              return false;
            }
            if (!(v >= min && v <= max)) {  // also rejects nan
              *why = OutOfRange(shown, FormatNumber(min), FormatNumber(max));
              return false;
            }
            config->*field = v;
            return true;
          },
          [=](const Config& config) { return FormatFloat(config.*field); }};
}

// Durations: an integer or a float number of seconds.
KeyCodec SecondsKey(double Config::*field, double min, double max) {
  return NumberKey(field, min, max, "a number of seconds (integer or float)");
}

// Rates: per second, an integer or a float.
KeyCodec RateKey(double Config::*field, double min, double max) {
  return NumberKey(field, min, max, "a number per second (integer or float)");
}

KeyCodec BoolKey(bool Config::*field) {
  return {[=](const toml::node& node, Config* config, std::string* why) {
            const toml::value<bool>* value = node.as_boolean();
            if (value == nullptr) {
              *why = Expected("a boolean (true or false)", node);
              return false;
            }
            config->*field = value->get();
            return true;
          },
          [=](const Config& config) { return std::string(config.*field ? "true" : "false"); }};
}

// A string value; `check` returns false and sets *why when the text is unusable.
using StringCheck = bool (*)(const std::string& text, std::string* why);

KeyCodec StringKey(std::string Config::*field, StringCheck check) {
  return {[=](const toml::node& node, Config* config, std::string* why) {
            const toml::value<std::string>* value = node.as_string();
            if (value == nullptr) {
              *why = Expected("a string", node);
              return false;
            }
            if (!check(value->get(), why)) return false;
            config->*field = value->get();
            return true;
          },
          [=](const Config& config) { return QuoteTomlString(config.*field); }};
}

bool CheckAddress(const std::string& text, std::string* why) {
  unsigned char address[sizeof(in6_addr)];
  // inet_pton stops at a NUL, so "1.2.3.4\0junk" must be refused here.
  const bool ok =
      text.find('\0') == std::string::npos && (inet_pton(AF_INET, text.c_str(), address) == 1 ||
                                               inet_pton(AF_INET6, text.c_str(), address) == 1);
  if (!ok) *why = QuoteTomlString(text) + " is not an IPv4 or IPv6 address";
  return ok;
}

// The origin is copied into a response header: CR or LF would let the file
// inject headers, and other control characters make the response invalid.
bool CheckHeaderValue(const std::string& text, std::string* why) {
  if (text.empty()) {
    *why = "must not be empty (use \"*\" to allow every origin)";
    return false;
  }
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      *why = QuoteTomlString(text) + " contains a control character";
      return false;
    }
  }
  return true;
}

// A list of strings, each checked by `check`; a bad entry is reported at its
// own line.
KeyCodec StringListKey(std::vector<std::string> Config::*field, StringCheck check) {
  KeyCodec codec;
  codec.nested = [=](const toml::node& node, const std::string& name, ParseState* state) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      state->problems.Add(node.source().begin.line, name + ": " + Expected("an array", node));
      return;
    }
    std::vector<std::string> values;
    for (const toml::node& item : *array) {
      const toml::value<std::string>* value = item.as_string();
      std::string why;
      if (value == nullptr) {
        why = Expected("strings", item);
      } else if (check(value->get(), &why)) {
        values.push_back(value->get());
        continue;
      }
      state->problems.Add(item.source().begin.line, name + ": " + why);
    }
    state->config.*field = std::move(values);
  };
  codec.format = [=](const Config& config) {
    std::vector<std::string> quoted;
    for (const std::string& value : config.*field) quoted.push_back(QuoteTomlString(value));
    return "[" + Join(quoted) + "]";
  };
  return codec;
}

bool HasSpaceOrControl(std::string_view text) {
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return true;
  }
  return false;
}

// A Host header value as a browser sends it: a name or IP literal, with an
// optional port.
bool CheckHostName(const std::string& text, std::string* why) {
  std::string_view host;
  std::string_view port;
  if (HasSpaceOrControl(text) || text.find_first_of("/?#@,") != std::string::npos ||
      !http::SplitHostPort(text, &host, &port)) {
    *why = QuoteTomlString(text) +
           " is not a host name with an optional port (such as \"notify.example.com\" or "
           "\"myhost:8080\")";
    return false;
  }
  return true;
}

// An Origin header value: "http://" or "https://", a host, an optional port,
// nothing after.
bool CheckOrigin(const std::string& text, std::string* why) {
  if (text == "null") {
    *why = "\"null\" cannot be allowed: sandboxed pages and files send it, so it names no site";
    return false;
  }
  const size_t scheme_end = text.find("://");
  const std::string scheme = text.substr(0, scheme_end);
  std::string host_why;
  if (scheme_end == std::string::npos || (scheme != "http" && scheme != "https") ||
      !CheckHostName(text.substr(scheme_end + 3), &host_why)) {
    *why = QuoteTomlString(text) +
           " is not an origin: write \"http://host\" or \"https://host:port\", lower-case "
           "scheme, no path and no trailing slash";
    return false;
  }
  return true;
}

bool CheckCidr(const std::string& text, std::string* why) {
  if (http::IsValidCidr(text, why)) return true;
  *why = QuoteTomlString(text) + ": " + *why;
  return false;
}

// A string naming one value of an enum (a log level, a [history] store):
// each name with its value, in the order messages list them.
template <typename E>
using Choices = std::vector<std::pair<std::string_view, E>>;

template <typename E>
KeyCodec ChoiceKey(E Config::*field, const Choices<E>& choices) {
  std::vector<std::string> names;
  for (const auto& choice : choices) names.emplace_back(choice.first);
  const std::string list = Join(names);
  return {[=](const toml::node& node, Config* config, std::string* why) {
            const toml::value<std::string>* value = node.as_string();
            if (value == nullptr) {
              *why = Expected("a string", node);
              return false;
            }
            for (const auto& [name, choice] : choices) {
              if (value->get() != name) continue;
              config->*field = choice;
              return true;
            }
            *why = QuoteTomlString(value->get()) + " is not one of " + list;
            return false;
          },
          [=](const Config& config) {
            for (const auto& [name, choice] : choices) {
              if (config.*field == choice) return QuoteTomlString(name);
            }
            return std::string();
          }};
}

Choices<LogLevel> LogLevels() {
  Choices<LogLevel> levels;
  for (int i = 0; i <= static_cast<int>(LogLevel::kOff); ++i) {
    const LogLevel level = static_cast<LogLevel>(i);
    levels.emplace_back(LogLevelName(level), level);
  }
  return levels;
}

// [cluster] redis: "HOST:PORT" (a name, an IPv4 address or "[IPv6]"), or
// "unix:" and an absolute socket path.
bool CheckRedisAddress(const std::string& text, std::string* why) {
  const std::string_view unix_scheme = "unix:";
  if (text.compare(0, unix_scheme.size(), unix_scheme) == 0) {
    const std::string path = text.substr(unix_scheme.size());
    if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos) {
      *why = QuoteTomlString(text) + ": after \"unix:\" give the socket's absolute path";
      return false;
    }
    return true;
  }
  const size_t colon = text.rfind(':');
  const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    *why = QuoteTomlString(text) +
           " is not HOST:PORT (such as \"127.0.0.1:6379\") or unix:/path/to/redis.sock";
    return false;
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    unsigned char address[sizeof(in6_addr)];
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), address) == 1) return true;
  } else if (!host.empty() && host.size() <= 253 &&
             host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-") == std::string::npos) {
    return true;
  }
  *why = QuoteTomlString(text) + ": the host must be a name, an IPv4 address or [an IPv6 address]";
  return false;
}

// [cluster] prefix: goes into Redis key and channel names.
bool CheckRedisPrefix(const std::string& text, std::string* why) {
  if (text.empty() || text.size() > 64 ||
      text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
          std::string::npos) {
    *why = QuoteTomlString(text) + ": use 1 to 64 characters of A-Z a-z 0-9 _ - .";
    return false;
  }
  return true;
}

// [history] path: any file name here; whether it must be set, and absolute,
// depends on the store (CheckHistory). Left out of FormatConfig when unset.
KeyCodec FilePathKey(std::string Config::*field) {
  KeyCodec codec = StringKey(field, [](const std::string& text, std::string* why) {
    if (text.empty()) {
      *why = "must not be empty (leave the key out instead)";
      return false;
    }
    if (text.find('\0') != std::string::npos) {
      *why = QuoteTomlString(text) + " contains a NUL character";
      return false;
    }
    return true;
  });
  codec.format = [=](const Config& config) {
    return (config.*field).empty() ? std::string() : QuoteTomlString(config.*field);
  };
  return codec;
}

// --- Tokens ----------------------------------------------------------------
//
// A token's text never appears in a message or in FormatConfig's output: the
// messages below say what is wrong with it, not what it is.

constexpr const char* kRedacted = "\"<redacted>\"";

bool CheckTokenText(std::string_view token, std::string* why) {
  if (token.size() < kMinTokenBytes) {
    *why = "too short: a token needs at least " + std::to_string(kMinTokenBytes) +
           " bytes (make one with `openssl rand -hex 32`)";
    return false;
  }
  if (token.size() > kMaxTokenBytes) {
    *why = "too long: a token may have at most " + std::to_string(kMaxTokenBytes) + " bytes";
    return false;
  }
  for (char c : token) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      *why = "a token may hold only printable ASCII characters, without spaces";
      return false;
    }
  }
  return true;
}

// Whitespace around a token in a file (an editor's final newline) is not part of it.
std::string_view TrimSpace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// Reads the token in `file`: an absolute path, or one relative to
// $CREDENTIALS_DIRECTORY, where systemd's LoadCredential= puts credentials.
bool ReadTokenFile(const std::string& file, std::string* secret, std::string* why) {
  std::string path;
  if (!CredentialPath(file, &path, why)) return false;
  std::string text;
  int err = 0;
  if (!ReadFile(path, &text, &err)) {
    *why = "cannot read " + QuoteTomlString(path) + ": " + std::strerror(err);
    return false;
  }
  const std::string_view token = TrimSpace(text);
  if (token.empty()) {
    *why = QuoteTomlString(path) + " is empty";
    return false;
  }
  std::string problem;
  if (!CheckTokenText(token, &problem)) {
    *why = QuoteTomlString(path) + ": " + problem;
    return false;
  }
  *secret = std::string(token);
  return true;
}

// `token = "..."`
bool ParseTokenValue(const toml::node& node, AccessToken* token, std::string* why) {
  const toml::value<std::string>* value = node.as_string();
  if (value == nullptr) {
    *why = Expected("a string", node);
    return false;
  }
  if (!CheckTokenText(value->get(), why)) return false;
  token->secret = value->get();
  token->file.clear();
  return true;
}

// `token_file = "..."`
bool ParseTokenFile(const toml::node& node, AccessToken* token, std::string* why) {
  const toml::value<std::string>* value = node.as_string();
  if (value == nullptr) {
    *why = Expected("a string (a file name)", node);
    return false;
  }
  if (!ReadTokenFile(value->get(), &token->secret, why)) return false;
  token->file = value->get();
  return true;
}

// `channels = ["backups-*", "alerts"]`
bool ParseChannels(const toml::node& node, AccessToken* token, std::string* why) {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    *why = Expected("an array of channel patterns", node);
    return false;
  }
  if (array->empty()) {
    *why = "must not be empty (leave it out to allow every channel)";
    return false;
  }
  std::vector<std::string> channels;
  for (const toml::node& item : *array) {
    const toml::value<std::string>* pattern = item.as_string();
    if (pattern == nullptr) {
      *why = Expected("channel patterns (strings)", item);
      return false;
    }
    if (!core::IsValidChannelPattern(pattern->get())) {
      *why = QuoteTomlString(pattern->get()) +
             " is not a channel pattern (a channel name of A-Z a-z 0-9 _ - . : @, "
             "optionally ending in '*', or \"*\" alone)";
      return false;
    }
    channels.push_back(pattern->get());
  }
  token->channels = std::move(channels);
  return true;
}

KeyCodec SubscribeTokenKey() {
  return {[](const toml::node& node, Config* config, std::string* why) {
            return ParseTokenValue(node, &config->subscribe_token, why);
          },
          [](const Config& config) {
            const AccessToken& token = config.subscribe_token;
            return token.secret.empty() || !token.file.empty() ? std::string() : kRedacted;
          }};
}

KeyCodec SubscribeTokenFileKey() {
  return {[](const toml::node& node, Config* config, std::string* why) {
            return ParseTokenFile(node, &config->subscribe_token, why);
          },
          [](const Config& config) {
            const AccessToken& token = config.subscribe_token;
            return token.file.empty() ? std::string() : QuoteTomlString(token.file);
          }};
}

// The keys of one [[auth.publish]] or [[auth.admin]] entry.
struct TokenKeyRule {
  std::string_view key;
  bool (*parse)(const toml::node& node, AccessToken* token, std::string* why);
  bool publish_only;  ///< Only [[auth.publish]] has it.
};

constexpr TokenKeyRule kTokenKeys[] = {
    {"token", ParseTokenValue, false},
    {"token_file", ParseTokenFile, false},
    {"channels", ParseChannels, true},
};

std::string UnknownTokenKeyMessage(std::string_view key, const std::string& list_name,
                                   bool publish) {
  std::vector<std::string_view> known;
  for (const TokenKeyRule& rule : kTokenKeys) {
    if (publish || !rule.publish_only) known.push_back(rule.key);
  }
  std::string message = "unknown key " + ShowKey(key) + " in [[" + list_name + "]]";
  const std::string_view closest = ClosestMatch(key, known);
  if (!closest.empty()) return message + "; did you mean " + ShowKey(closest) + "?";
  if (!publish && key == "channels") return message + "; an admin token may use every channel";
  std::vector<std::string> names(known.begin(), known.end());
  return message + "; known keys: " + Join(names);
}

// One entry of the array; false (with the problem recorded) when it is unusable.
bool ParseTokenEntry(const toml::table& table, const std::string& list_name,
                     const std::string& entry, bool publish, AccessToken* token,
                     ParseState* state) {
  bool ok = true;
  Line token_line = 0;
  Line file_line = 0;
  for (auto&& [key, node] : table) {
    const Line line = node.source().begin.line;
    const TokenKeyRule* rule = nullptr;
    for (const TokenKeyRule& candidate : kTokenKeys) {
      if (candidate.key == key.str() && (publish || !candidate.publish_only)) rule = &candidate;
    }
    if (rule == nullptr) {
      state->problems.Add(KeyLine(key, node), UnknownTokenKeyMessage(key.str(), list_name, publish));
      ok = false;
      continue;
    }
    if (rule->key == "token") token_line = line;
    if (rule->key == "token_file") file_line = line;
    std::string why;
    if (!rule->parse(node, token, &why)) {
      state->problems.Add(line, entry + "." + std::string(key.str()) + ": " + why);
      ok = false;
    }
  }
  if (token_line != 0 && file_line != 0) {
    state->problems.Add(std::max(token_line, file_line),
                        entry + ": set token or token_file, not both");
    return false;
  }
  if (token_line == 0 && file_line == 0) {
    state->problems.Add(table.source().begin.line, entry + ": needs token or token_file");
    return false;
  }
  return ok;
}

// [[auth.publish]] / [[auth.admin]]: an array of tables, one token each.
KeyCodec TokenListKey(std::vector<AccessToken> Config::*field, bool publish) {
  KeyCodec codec;
  codec.nested = [=](const toml::node& node, const std::string& name, ParseState* state) {
    const toml::array* array = node.as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      state->problems.Add(node.source().begin.line,
                          name + ": expected an array of tables ([[" + name + "]]), got " +
                              TypeName(node.type()));
      return;
    }
    std::vector<AccessToken> tokens;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::table& table = *array->get(i)->as_table();
      const std::string entry = name + "[" + std::to_string(i + 1) + "]";
      AccessToken token;
      if (!ParseTokenEntry(table, name, entry, publish, &token, state)) continue;
      state->tokens.push_back({entry, table.source().begin.line, token.secret});
      tokens.push_back(std::move(token));
    }
    state->config.*field = std::move(tokens);
  };
  codec.format_blocks = [=](const std::string& name, const Config& config) {
    std::string out;
    for (const AccessToken& token : config.*field) {
      out += "\n[[" + name + "]]\n";
      out += token.file.empty() ? std::string("token = ") + kRedacted + "\n"
                                : "token_file = " + QuoteTomlString(token.file) + "\n";
      if (token.channels.empty()) continue;
      std::vector<std::string> quoted;
      for (const std::string& pattern : token.channels) quoted.push_back(QuoteTomlString(pattern));
      out += "channels = [" + Join(quoted) + "]\n";
    }
    return out;
  };
  return codec;
}

// --- The table of keys -------------------------------------------------------

struct KeyRule {
  std::string_view section;
  std::string_view key;
  KeyCodec codec;
};

// One row per key, in the order FormatConfig writes them; rows of a section
// stay together. Ranges here are the documented ones in etc/notifyd.conf.
const std::vector<KeyRule>& Rules() {
  static const std::vector<KeyRule>* const rules = new std::vector<KeyRule>{
      {"server", "listen", StringKey(&Config::listen_address, CheckAddress)},
      {"server", "port", IntegerKey(&Config::port, 0, 65535)},
      {"server", "echo", BoolKey(&Config::echo_enabled)},
      {"server", "cors_origin", StringKey(&Config::cors_origin, CheckHeaderValue)},
      {"server", "allowed_hosts", StringListKey(&Config::allowed_hosts, CheckHostName)},
      {"server", "allowed_origins", StringListKey(&Config::allowed_origins, CheckOrigin)},
      {"server", "trusted_proxies", StringListKey(&Config::trusted_proxies, CheckCidr)},
      {"server", "keepalive_timeout", SecondsKey(&Config::keepalive_timeout_s, 0.1, 3600)},
      {"server", "max_requests_per_connection",
       IntegerKey(&Config::max_requests_per_connection, 1, 1000000)},
      {"heartbeat", "interval", SecondsKey(&Config::heartbeat_interval_s, 0.05, 86400)},
      {"heartbeat", "timeout", SecondsKey(&Config::heartbeat_timeout_s, 0.05, 86400)},
      {"limits", "max_connections", IntegerKey(&Config::max_connections, 1, 1000000)},
      {"limits", "max_frame_bytes", IntegerKey(&Config::max_frame_bytes, 256, 16777216)},
      {"limits", "max_body_bytes", IntegerKey(&Config::max_body_bytes, 256, 16777216)},
      {"limits", "max_subscriptions_per_client",
       IntegerKey(&Config::max_subscriptions_per_client, 1, 100000)},
      {"limits", "max_name_bytes", IntegerKey(&Config::max_name_bytes, 1, 4096)},
      {"limits", "shutdown_timeout", SecondsKey(&Config::shutdown_timeout_s, 0.1, 300)},
      {"limits", "max_queued_bytes_per_client",
       IntegerKey(&Config::max_queued_bytes_per_client, 65536, 1073741824)},
      {"limits", "connection_rate", RateKey(&Config::connection_rate, 0, 1000000)},
      {"limits", "connection_burst", IntegerKey(&Config::connection_burst, 1, 1000000)},
      {"limits", "publish_rate", RateKey(&Config::publish_rate, 0, 1000000)},
      {"limits", "publish_burst", IntegerKey(&Config::publish_burst, 1, 1000000)},
      {"limits", "max_connections_per_address",
       IntegerKey(&Config::max_connections_per_address, 0, 1000000)},
      {"auth", "subscribe_token", SubscribeTokenKey()},
      {"auth", "subscribe_token_file", SubscribeTokenFileKey()},
      {"auth", "publish", TokenListKey(&Config::publish_tokens, true)},
      {"auth", "admin", TokenListKey(&Config::admin_tokens, false)},
      {"history", "store",
       ChoiceKey(&Config::history_store,
                 {{"memory", HistoryStore::kMemory}, {"sqlite", HistoryStore::kSqlite}})},
      {"history", "path", FilePathKey(&Config::history_path)},
      {"history", "size", IntegerKey(&Config::history_size, 0, 100000)},
      {"history", "ttl", SecondsKey(&Config::history_ttl_s, 1, 31536000)},
      {"history", "sync",
       ChoiceKey(&Config::history_sync,
                 {{"commit", HistorySync::kCommit}, {"batch", HistorySync::kBatch}})},
      {"history", "recover_max", IntegerKey(&Config::history_recover_max, 1, 100000)},
      {"cluster", "broker",
       ChoiceKey(&Config::cluster_broker,
                 {{"local", ClusterBroker::kLocal}, {"redis", ClusterBroker::kRedis}})},
      {"cluster", "redis", StringKey(&Config::cluster_redis, CheckRedisAddress)},
      {"cluster", "prefix", StringKey(&Config::cluster_prefix, CheckRedisPrefix)},
      {"cluster", "timeout", SecondsKey(&Config::cluster_timeout_s, 0.05, 30)},
      {"tls", "port", IntegerKey(&Config::tls_port, 0, 65535)},
      {"tls", "certificate", FilePathKey(&Config::tls_certificate)},
      {"tls", "key", FilePathKey(&Config::tls_key)},
      {"log", "level", ChoiceKey(&Config::log_level, LogLevels())},
  };
  return *rules;
}

const KeyRule* FindRule(std::string_view section, std::string_view key) {
  for (const KeyRule& rule : Rules()) {
    if (rule.section == section && rule.key == key) return &rule;
  }
  return nullptr;
}

std::vector<std::string_view> Sections() {
  std::vector<std::string_view> sections;
  for (const KeyRule& rule : Rules()) {
    if (sections.empty() || sections.back() != rule.section) sections.push_back(rule.section);
  }
  return sections;
}

bool IsSection(std::string_view name) {
  for (std::string_view section : Sections()) {
    if (section == name) return true;
  }
  return false;
}

std::string UnknownSectionMessage(std::string_view name) {
  const std::vector<std::string_view> sections = Sections();
  std::string message = "unknown section " + ShowSection(name);
  const std::string_view closest = ClosestMatch(name, sections);
  if (!closest.empty()) return message + "; did you mean " + ShowSection(closest) + "?";
  std::vector<std::string> known;
  for (std::string_view section : sections) known.push_back(ShowSection(section));
  return message + "; known sections: " + Join(known);
}

// `section` is "" for a key outside any section.
std::string UnknownKeyMessage(std::string_view section, std::string_view key) {
  std::string message = "unknown key " + ShowKey(key) + " in " +
                        (section.empty() ? std::string("(top level)") : ShowSection(section));
  std::vector<std::string_view> same_section;
  std::vector<std::string> known;
  for (const KeyRule& rule : Rules()) {
    if (rule.section == section) {
      same_section.push_back(rule.key);
      known.emplace_back(rule.key);
    }
  }
  const std::string_view closest = ClosestMatch(key, same_section);
  if (!closest.empty()) return message + "; did you mean " + ShowKey(closest) + "?";
  for (const KeyRule& rule : Rules()) {
    if (rule.key == key) return message + "; it belongs in " + ShowSection(rule.section);
  }
  if (section.empty()) return message + "; every key belongs in a section";
  return message + "; known keys: " + Join(known);
}

// --- The parse ---------------------------------------------------------------

void ParseSection(std::string_view section, const toml::table& table, ParseState* state) {
  for (auto&& [key, node] : table) {
    const KeyRule* rule = FindRule(section, key.str());
    if (rule == nullptr) {
      state->problems.Add(KeyLine(key, node), UnknownKeyMessage(section, key.str()));
      continue;
    }
    const std::string name = std::string(section) + "." + std::string(key.str());
    const Line line = node.source().begin.line;
    state->lines[name] = line;
    if (rule->codec.nested) {
      rule->codec.nested(node, name, state);
      continue;
    }
    std::string why;
    if (!rule->codec.parse(node, &state->config, &why)) {
      state->problems.Add(line, name + ": " + why);
    }
  }
}

void ParseRoot(const toml::table& root, ParseState* state) {
  for (auto&& [key, node] : root) {
    const std::string_view name = key.str();
    const bool known = IsSection(name);
    if (const toml::table* table = node.as_table(); table != nullptr && known) {
      ParseSection(name, *table, state);
    } else if (table != nullptr) {
      state->problems.Add(KeyLine(key, node), UnknownSectionMessage(name));
    } else if (known) {
      state->problems.Add(KeyLine(key, node),
                          ShowSection(name) + " must be a table, got " + TypeName(node.type()));
    } else {
      state->problems.Add(KeyLine(key, node), UnknownKeyMessage("", name));
    }
  }
}

void CheckHeartbeat(ParseState* state) {
  const Config& config = state->config;
  if (config.heartbeat_timeout_s > config.heartbeat_interval_s) return;
  // Blame the timeout when the file sets it, else the interval that outgrew it.
  const auto timeout = state->lines.find("heartbeat.timeout");
  const Line line =
      timeout != state->lines.end() ? timeout->second : state->lines["heartbeat.interval"];
  state->problems.Add(line, "heartbeat.timeout (" + FormatNumber(config.heartbeat_timeout_s) +
                                ") must be greater than heartbeat.interval (" +
                                FormatNumber(config.heartbeat_interval_s) + ")");
}

// One role per token: the same secret twice is a copy-and-paste slip, and
// would make "which token is this" ambiguous.
void CheckTokens(ParseState* state) {
  const auto literal = state->lines.find("auth.subscribe_token");
  const auto file = state->lines.find("auth.subscribe_token_file");
  if (literal != state->lines.end() && file != state->lines.end()) {
    state->problems.Add(std::max(literal->second, file->second),
                        "auth: set subscribe_token or subscribe_token_file, not both");
    return;
  }
  if (literal != state->lines.end() || file != state->lines.end()) {
    const bool from_file = file != state->lines.end();
    state->tokens.push_back({from_file ? "auth.subscribe_token_file" : "auth.subscribe_token",
                             from_file ? file->second : literal->second,
                             state->config.subscribe_token.secret});
  }
  std::vector<SeenToken>& tokens = state->tokens;
  std::sort(tokens.begin(), tokens.end(),
            [](const SeenToken& a, const SeenToken& b) { return a.line < b.line; });
  for (size_t j = 1; j < tokens.size(); ++j) {
    for (size_t i = 0; i < j; ++i) {
      if (tokens[i].secret != tokens[j].secret) continue;
      state->problems.Add(tokens[j].line, tokens[j].name + ": the same token as " +
                                              tokens[i].name + "; give each token one role");
      return;
    }
  }
}

// The SQLite store needs its file named, and named absolutely: the service
// runs in "/", and a database that moves with the working directory would
// lose history silently. With the memory store the path is unused.
void CheckHistory(ParseState* state) {
  const Config& config = state->config;
  if (config.history_store != HistoryStore::kSqlite) return;
  if (config.cluster_broker == ClusterBroker::kRedis) {
    // One authority for positions: with Redis, history lives there.
    state->problems.Add(state->lines["history.store"],
                        "history.store: \"sqlite\" cannot be used with cluster.broker = "
                        "\"redis\", which keeps history in Redis; set store = \"memory\"");
    return;
  }
  if (config.history_path.empty()) {
    state->problems.Add(state->lines["history.store"],
                        "history.path: required with store = \"sqlite\" (an absolute file "
                        "name, such as \"/var/lib/notifyd/history.db\")");
  } else if (config.history_path.front() != '/') {
    state->problems.Add(state->lines["history.path"],
                        "history.path: " + QuoteTomlString(config.history_path) +
                            " is not an absolute path, which store = \"sqlite\" requires");
  }
}

// A TLS port needs both files, found where they are named (whether they
// hold a usable certificate and key is for the TLS layer, at start, reload
// and --check-config). Files without a port are allowed: staged for later.
void CheckTls(ParseState* state) {
  const Config& config = state->config;
  for (auto [key, file] : {std::pair<const char*, const std::string*>{"certificate",
                                                                      &config.tls_certificate},
                           {"key", &config.tls_key}}) {
    const std::string name = std::string("tls.") + key;
    if (file->empty()) {
      if (config.tls_port != 0) {
        state->problems.Add(state->lines["tls.port"],
                            name + ": required with tls.port (a PEM file, absolute or relative "
                                   "to $CREDENTIALS_DIRECTORY)");
      }
      continue;
    }
    std::string path, why;
    if (!CredentialPath(*file, &path, &why)) state->problems.Add(state->lines[name], name + ": " + why);
  }
  if (config.tls_port != 0 && config.tls_port == config.port) {
    state->problems.Add(state->lines["tls.port"], "tls.port (" + std::to_string(config.tls_port) +
                                                      ") must differ from server.port");
  }
}

// Rules between keys, checked once every key is valid on its own.
void CheckRelations(ParseState* state) {
  CheckHeartbeat(state);
  CheckTokens(state);
  CheckHistory(state);
  CheckTls(state);
}

}  // namespace

bool CredentialPath(const std::string& file, std::string* path, std::string* why) {
  if (file.empty() || file.find('\0') != std::string::npos) {
    *why = "must be a file name";
    return false;
  }
  if (file.front() == '/') {
    *path = file;
    return true;
  }
  const char* directory = std::getenv("CREDENTIALS_DIRECTORY");
  if (directory == nullptr || *directory == '\0') {
    *why = "relative path " + QuoteTomlString(file) +
           " needs $CREDENTIALS_DIRECTORY (set by systemd for LoadCredential=), which is not "
           "set; give an absolute path";
    return false;
  }
  *path = std::string(directory) + "/" + file;
  return true;
}

std::string QuoteTomlString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default: {
        const unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04X", u);
          out += escape;
        } else {
          out += c;
        }
      }
    }
  }
  return out + "\"";
}

bool ParseConfigText(std::string_view text, const std::string& file_name, Config* out,
                     std::string* error) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    *error = file_name + ":" + std::to_string(e.source().begin.line) + ": " +
             std::string(e.description());
    return false;
  }
  ParseState state;
  ParseRoot(root, &state);
  if (state.problems.None()) CheckRelations(&state);
  if (!state.problems.None()) {
    *error = state.problems.Located(file_name);
    return false;
  }
  *out = state.config;
  return true;
}

bool LoadConfigFile(const std::string& path, Config* out, std::string* error) {
  std::string text;
  int err = 0;
  if (!ReadFile(path, &text, &err)) {
    *error = path + ": cannot read: " + std::strerror(err);
    return false;
  }
  return ParseConfigText(text, path, out, error);
}

std::string FormatConfig(const Config& config) {
  std::string out;
  std::string_view section;
  std::string blocks;  // [[section.key]] tables go after the section's plain keys
  for (const KeyRule& rule : Rules()) {
    if (rule.section != section) {
      out += blocks;
      blocks.clear();
      section = rule.section;
      if (!out.empty()) out += '\n';
      out += "[" + std::string(section) + "]\n";
      if (section == "auth" && config.subscribe_token.secret.empty() &&
          config.publish_tokens.empty() && config.admin_tokens.empty()) {
        out += "# no tokens: /ws is open, the API answers loopback peers only\n";
      }
    }
    const std::string name = std::string(rule.section) + "." + std::string(rule.key);
    if (rule.codec.format_blocks) {
      blocks += rule.codec.format_blocks(name, config);
      continue;
    }
    const std::string value = rule.codec.format(config);
    if (!value.empty()) out += std::string(rule.key) + " = " + value + "\n";
  }
  return out + blocks;
}

}  // namespace notifyd::config
