// The TLS layer of one Connection: an OpenSSL SSL whose "socket" is memory.
// Ciphertext read from the socket is fed in (Receive) and the plaintext
// comes out to the connection's protocol; plaintext to send is sealed into
// records (Seal) that collect in output(), which the connection moves to its
// send queue. So the queue, its caps and the batched flush work on
// ciphertext as they did on plaintext, and OpenSSL never touches the socket.
// Owned by the Connection; the SSL holds a reference to the SSL_CTX it was
// made from, so a reload's new context does not affect it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace notifyd::transport {

class TlsChannel {
 public:
  enum class Status {
    kOk,      ///< Everything fed was used; more may follow.
    kClosed,  ///< The peer sent close_notify: as end of file.
    kFailed,  ///< A fatal error (handshake refused, bad record): see error().
  };

  /// Plaintext from the peer; false to stop reading (the connection closed).
  using Deliver = std::function<bool(std::string_view plaintext)>;

  explicit TlsChannel(SSL_CTX* ctx);
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  /// Feeds ciphertext read from the socket: advances the handshake, then
  /// decrypts into `buffer` and calls `deliver` with each piece of plaintext.
  Status Receive(std::string_view ciphertext, std::vector<char>& buffer, const Deliver& deliver);
  /// Encrypts `plaintext` into output(). REQUIRES: established().
  /// False after a fatal error.
  bool Seal(std::string_view plaintext);
  /// Appends close_notify to output(), once; nothing before the handshake is done.
  void Close();

  /// Ciphertext made by the calls above and not taken yet.
  std::string& output() { return output_; }
  /// The handshake is done: plaintext can be sealed.
  bool established() const { return established_; }
  bool failed() const { return failed_; }
  /// What went wrong, for a debug line ("wrong version number").
  const std::string& error() const { return error_; }
  /// "TLSv1.3 TLS_AES_256_GCM_SHA384 alpn=http/1.1", once established.
  std::string Describe() const;

 private:
  Status Fail(int ssl_error);

  SSL* ssl_;
  std::string_view input_;  ///< Ciphertext fed and not yet taken by OpenSSL.
  std::string output_;
  std::string error_;
  bool established_ = false;
  bool failed_ = false;
  bool closed_ = false;

  friend struct TlsBio;  ///< The memory "socket" OpenSSL reads and writes.
};

}  // namespace notifyd::transport
