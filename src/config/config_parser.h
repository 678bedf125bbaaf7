// The config file parser: TOML text -> Config, or one "FILE:LINE: message"
// naming the first problem in the file; and Config -> TOML text for
// `notifyd --check-config`. Every key is optional; a missing key keeps its
// Config{} default. Unknown sections and keys, wrong types and out-of-range
// values are errors, never silently ignored or clamped. No exceptions escape.
// Token files ([auth] token_file, subscribe_token_file) are read while parsing;
// no message and no FormatConfig output ever contains a token.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"

namespace notifyd::config {

/// Parses TOML text into *out, starting from Config{} defaults for keys not present.
/// On failure returns false, leaves *out unchanged and sets *error to
/// "FILE:LINE: message" (FILE = file_name) for the earliest problem in the text.
/// A relative token_file is read from $CREDENTIALS_DIRECTORY (an error when unset).
bool ParseConfigText(std::string_view text, const std::string& file_name, Config* out,
                     std::string* error);

/// Reads and parses a file; errors name `path` as the file.
/// "PATH: cannot read: <strerror>" when it cannot be read.
bool LoadConfigFile(const std::string& path, Config* out, std::string* error);

/// The effective config as TOML text with every key (used by `notifyd --check-config`).
/// Literal tokens are written as token = "<redacted>", token files by name; with
/// no literal token, parsing the output again gives an equal Config.
std::string FormatConfig(const Config& config);

/// Where a credential file named in the config is: `file` itself when
/// absolute, else `file` in $CREDENTIALS_DIRECTORY (where systemd's
/// LoadCredential= puts it). False with *why when `file` is empty or relative
/// while the variable is unset.
bool CredentialPath(const std::string& file, std::string* path, std::string* why);

/// `text` as a quoted TOML basic string, with quotes, backslashes and control
/// characters escaped; safe to print in a message or a log line.
std::string QuoteTomlString(std::string_view text);

}  // namespace notifyd::config
