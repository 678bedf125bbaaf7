#include "wire/chunked_decoder.h"

#include <algorithm>
#include <utility>

#include "http/router.h"
#include "wire/http_syntax.h"

namespace notifyd::wire {

namespace {

constexpr char kBadSize[] = "Malformed chunk size";
constexpr char kBadChunk[] = "Malformed chunk: CRLF expected after the data";

// A byte that may stand in a chunk extension: visible text, SP, HTAB and
// obs-text (RFC 9112 §7.1.1 allows quoted strings there), no controls.
bool IsExtensionByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 ? u != 0x7F : c == '\t';
}

}  // namespace

ChunkedDecoder::ChunkedDecoder(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

ChunkedDecoder::State ChunkedDecoder::Feed(std::string_view data, size_t* consumed,
                                           std::string* body) {
  size_t pos = 0;
  while (pos < data.size() && state_ == State::kNeedMore) {
    if (step_ == Step::kData) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(chunk_size_, data.size() - pos));
      body->append(data.data() + pos, take);
      pos += take;
      chunk_size_ -= take;
      decoded_ += take;
      if (chunk_size_ == 0) step_ = Step::kDataCr;
    } else if (step_ == Step::kTrailer) {
      pos += OnTrailerBytes(data.substr(pos));
    } else {
      OnLineByte(data[pos++]);
    }
  }
  if (consumed != nullptr) *consumed = pos;
  return state_;
}

void ChunkedDecoder::OnLineByte(char c) {
  const bool size_line = step_ == Step::kSize || step_ == Step::kExtension;
  if (size_line && c != '\r' && c != '\n' && ++line_bytes_ > kMaxChunkLineBytes) {
    return Fail(400, "Chunk size line too long");
  }
  switch (step_) {
    case Step::kSize:
      return OnSizeByte(c);
    case Step::kExtension:
      return OnExtensionByte(c);
    case Step::kSizeLf:
      return c == '\n' ? EndSizeLine() : Fail(400, "CR without LF in a chunk size line");
    case Step::kDataCr:
      if (c == '\r') {
        step_ = Step::kDataLf;
      } else if (c == '\n') {
        step_ = Step::kSize;
      } else {
        Fail(400, kBadChunk);
      }
      return;
    case Step::kDataLf:
      if (c != '\n') return Fail(400, kBadChunk);
      step_ = Step::kSize;
      return;
    case Step::kData:
    case Step::kTrailer:
      return;  // Feed() handles these in bulk
  }
}

// chunk-size = 1*HEXDIG. The value read so far never exceeds the final one,
// so an oversized body is refused at the first digit that shows it.
void ChunkedDecoder::OnSizeByte(char c) {
  const int digit = http::HexDigitValue(c);
  if (digit >= 0) {
    if (chunk_size_ > (UINT64_MAX - digit) / 16) return Fail(413, "Request body too large");
    chunk_size_ = chunk_size_ * 16 + digit;
    ++size_digits_;
    if (chunk_size_ > max_body_bytes_ - std::min<uint64_t>(decoded_, max_body_bytes_)) {
      Fail(413, "Request body too large");
    }
    return;
  }
  if (size_digits_ == 0) return Fail(400, kBadSize);
  step_ = Step::kExtension;
  OnExtensionByte(c);
}

// After the size: BWS ";" extensions (RFC 9112 §7.1.1), then CRLF. OWS with
// no extension after it is tolerated too, as common implementations do.
void ChunkedDecoder::OnExtensionByte(char c) {
  if (c == '\r') {
    step_ = Step::kSizeLf;
  } else if (c == '\n') {
    EndSizeLine();
  } else if (c == ';') {
    in_extension_ = true;
  } else if (!(in_extension_ ? IsExtensionByte(c) : IsOws(c))) {
    Fail(400, in_extension_ ? "Malformed chunk extension" : kBadSize);
  }
}

void ChunkedDecoder::EndSizeLine() {
  step_ = chunk_size_ == 0 ? Step::kTrailer : Step::kData;
  size_digits_ = 0;
  line_bytes_ = 0;
  in_extension_ = false;
}

// Trailer fields (RFC 9112 §7.1.2) up to the empty line; bytes are appended
// to the line in progress in bulk, up to its LF.
size_t ChunkedDecoder::OnTrailerBytes(std::string_view data) {
  const size_t lf = data.find('\n');
  const size_t take = lf == std::string_view::npos ? data.size() : lf + 1;
  trailer_bytes_ += take;
  if (trailer_bytes_ > kMaxTrailerBytes) {
    Fail(431, "Trailer fields too large");
    return take;
  }
  trailer_line_.append(data.data(), take);
  if (lf != std::string_view::npos) {
    std::string line;
    line.swap(trailer_line_);
    line.pop_back();  // the LF
    if (!line.empty() && line.back() == '\r') line.pop_back();
    OnTrailerLine(line);
  }
  return take;
}

void ChunkedDecoder::OnTrailerLine(std::string_view line) {
  if (line.empty()) {
    state_ = State::kDone;
    return;
  }
  std::string_view name;
  std::string_view value;
  if (SplitFieldLine(line, &name, &value) != nullptr) Fail(400, "Malformed trailer field");
}

void ChunkedDecoder::Fail(int status, std::string reason) {
  state_ = State::kError;
  error_status_ = status;
  error_ = std::move(reason);
  std::string().swap(trailer_line_);
}

void ChunkedDecoder::Reset() { *this = ChunkedDecoder(max_body_bytes_); }

}  // namespace notifyd::wire
