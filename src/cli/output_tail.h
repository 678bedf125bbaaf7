// The end of a command's output, kept for the notification `notifyd-cli run`
// sends about it: the last few lines of its stdout and stderr, in the order
// they arrived. Memory stays bounded whatever the command writes: at most
// `max_lines` lines of at most `max_line_bytes` bytes each (a longer line is
// cut and says how much was cut), also for binary output without line
// breaks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace notifyd::cli {

/// Lines `run` keeps by default.
inline constexpr size_t kTailLines = 20;
/// Bytes of one line `run` keeps by default: 20 such lines, even as U+FFFD
/// replacements of bad bytes, stay well below the server's default body
/// limit (64 KiB).
inline constexpr size_t kTailLineBytes = 512;

class OutputTail {
 public:
  /// Which output a chunk came from: each has its own unfinished line.
  enum Stream { kStdout = 0, kStderr = 1 };

  explicit OutputTail(size_t max_lines = kTailLines, size_t max_line_bytes = kTailLineBytes);

  /// Adds bytes the command wrote on `stream`.
  void Add(Stream stream, std::string_view bytes);

  /// Ends the unfinished lines (stdout's, then stderr's): the output is over.
  void Finish();

  /// The kept lines, oldest first, joined by '\n': valid UTF-8, with ANSI
  /// escape sequences removed and other control characters but tab shown as
  /// U+FFFD. Unfinished lines are not in it until Finish().
  std::string Text() const;

  /// Lines seen in all, the ones no longer kept included.
  uint64_t total_lines() const { return total_lines_; }

 private:
  struct Partial {
    std::string text;      // the kept start of the line
    uint64_t dropped = 0;  // bytes of it beyond max_line_bytes_
    bool started = false;  // a byte of it has come
  };

  void EndLine(Partial* partial);

  size_t max_lines_;
  size_t max_line_bytes_;
  std::deque<std::string> lines_;
  std::array<Partial, 2> partial_;
  uint64_t total_lines_ = 0;
};

}  // namespace notifyd::cli
