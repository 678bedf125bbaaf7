#include "cli/output_tail.h"

#include <algorithm>
#include <utility>

#include "core/utf8.h"

namespace notifyd::cli {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Drops an incomplete UTF-8 sequence at the end of a cut line, so the cut
// does not leave a replacement character behind.
void TrimPartialCharacter(std::string* text) {
  size_t end = text->size();
  size_t start = end;
  while (start > 0 && end - start < 4 &&
         (static_cast<unsigned char>((*text)[start - 1]) & 0xC0) == 0x80) {
    --start;
  }
  if (start == 0) return;
  unsigned char lead = static_cast<unsigned char>((*text)[start - 1]);
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (length > end - start + 1) text->resize(start - 1);
}

// Length of the ANSI escape sequence at text[at] (an ESC): CSI ("ESC [",
// parameters, one final byte in @..~) or a two-byte escape; 1 when cut off.
size_t EscapeLength(std::string_view text, size_t at) {
  if (at + 1 >= text.size()) return 1;
  if (text[at + 1] != '[') return 2;
  for (size_t i = at + 2; i < text.size(); ++i) {
    if (text[i] >= '@' && text[i] <= '~') return i - at + 1;
  }
  return text.size() - at;
}

// The line as it is shown: escapes removed, other controls but tab marked.
std::string CleanLine(std::string_view raw) {
  std::string valid = core::ToValidUtf8(raw);
  std::string out;
  out.reserve(valid.size());
  for (size_t i = 0; i < valid.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(valid[i]);
    if (c == 0x1B) {
      i += EscapeLength(valid, i) - 1;
    } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
      out += kReplacement;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

OutputTail::OutputTail(size_t max_lines, size_t max_line_bytes)
    : max_lines_(max_lines), max_line_bytes_(max_line_bytes) {}

void OutputTail::Add(Stream stream, std::string_view bytes) {
  Partial& partial = partial_[stream];
  while (!bytes.empty()) {
    size_t newline = bytes.find('\n');
    std::string_view piece = bytes.substr(0, newline);
    size_t room = max_line_bytes_ - std::min(max_line_bytes_, partial.text.size());
    partial.text.append(piece.substr(0, room));
    partial.dropped += piece.size() - std::min(room, piece.size());
    partial.started = true;
    if (newline == std::string_view::npos) break;
    EndLine(&partial);
    bytes.remove_prefix(newline + 1);
  }
}

void OutputTail::Finish() {
  for (Partial& partial : partial_) {
    if (partial.started) EndLine(&partial);
  }
}

std::string OutputTail::Text() const {
  std::string text;
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (i > 0) text += '\n';
    text += lines_[i];
  }
  return text;
}

void OutputTail::EndLine(Partial* partial) {
  std::string& text = partial->text;
  if (partial->dropped == 0 && !text.empty() && text.back() == '\r') text.pop_back();
  if (partial->dropped > 0) {
    size_t kept = text.size();
    TrimPartialCharacter(&text);
    partial->dropped += kept - text.size();
  }
  std::string line = CleanLine(text);
  if (partial->dropped > 0) {
    line += " [\xE2\x80\xA6 " + std::to_string(partial->dropped) + " more bytes]";
  }
  ++total_lines_;
  if (max_lines_ > 0) {
    if (lines_.size() == max_lines_) lines_.pop_front();
    lines_.push_back(std::move(line));
  }
  *partial = Partial{};
}

}  // namespace notifyd::cli
