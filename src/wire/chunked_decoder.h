// Decodes a request body sent with Transfer-Encoding: chunked (RFC 9112
// §7.1) as bytes arrive. Socket-free: the transport feeds it the bytes that
// follow a head for which wire::HttpHeadParser reported kChunked; it
// appends the data of each chunk to the body and stops right after the
// trailer section, so what follows is the next pipelined request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace notifyd::wire {

class ChunkedDecoder {
 public:
  enum class State { kNeedMore, kDone, kError };

  /// Longest chunk-size line (size, extensions, CRLF) accepted; longer: 400.
  static constexpr size_t kMaxChunkLineBytes = 4096;
  /// Largest trailer section (field lines and the final CRLF); larger: 431.
  static constexpr size_t kMaxTrailerBytes = 8192;

  /// A body that would decode to more than `max_body_bytes` gets 413.
  explicit ChunkedDecoder(size_t max_body_bytes);

  /// Consumes chunked bytes, appending the decoded data to *body. Returns
  /// kNeedMore (all of `data` consumed), kDone (the body is complete: *consumed
  /// ends right after the final CRLF of the trailer section, and the bytes
  /// after it are not this body's) or kError (error_status()/error() say why;
  /// the connection should get that status and be closed). Once kDone or
  /// kError, further calls return the same state and consume nothing until
  /// Reset(). Each call costs time in proportion to `data` only.
  ///
  /// Accepted as RFC 9112 §7.1 reads: sizes in hex (any case, leading zeros
  /// counted against kMaxChunkLineBytes); chunk extensions (";" then any
  /// visible text, OWS before it) ignored; trailer fields checked as field
  /// lines and discarded; a bare LF wherever CRLF is due. A CR not followed
  /// by LF is an error.
  State Feed(std::string_view data, size_t* consumed, std::string* body);

  /// After kError: 400 (malformed), 413 (the body would exceed the limit,
  /// decided as soon as a chunk size says so), 431 (trailer section too large).
  int error_status() const { return error_status_; }
  /// After kError: a short English reason, safe to send to the client.
  const std::string& error() const { return error_; }

  /// Ready for the next body.
  void Reset();

 private:
  /// Where in the chunked syntax the next byte falls.
  enum class Step {
    kSize,       ///< chunk-size hex digits
    kExtension,  ///< after the size: OWS, then ";" and extensions
    kSizeLf,     ///< after the size line's CR
    kData,       ///< chunk-data
    kDataCr,     ///< the CRLF after chunk-data
    kDataLf,     ///< its LF, after the CR
    kTrailer,    ///< trailer field lines, then the final empty line
  };

  void OnLineByte(char c);  // one byte of a chunk-size line or a data CRLF
  void OnSizeByte(char c);
  void OnExtensionByte(char c);
  void EndSizeLine();
  size_t OnTrailerBytes(std::string_view data);  // returns the bytes consumed
  void OnTrailerLine(std::string_view line);
  void Fail(int status, std::string reason);

  size_t max_body_bytes_;
  State state_ = State::kNeedMore;
  Step step_ = Step::kSize;
  uint64_t chunk_size_ = 0;    ///< The size being read, then the data left of the chunk.
  size_t size_digits_ = 0;     ///< Hex digits of the size being read.
  size_t line_bytes_ = 0;      ///< Bytes of the chunk-size line so far.
  bool in_extension_ = false;  ///< A ";" was seen on the size line.
  uint64_t decoded_ = 0;       ///< Body bytes decoded so far.
  std::string trailer_line_;   ///< The trailer field line being received.
  size_t trailer_bytes_ = 0;   ///< Bytes of the trailer section so far.
  int error_status_ = 0;
  std::string error_;
};

}  // namespace notifyd::wire
