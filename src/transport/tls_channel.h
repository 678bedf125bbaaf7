// The TLS layer of one Connection: an OpenSSL SSL whose "socket" is memory.
// Ciphertext read from the socket is fed in (Receive) and the plaintext
// comes out to the connection's protocol; plaintext to send is sealed into
// records (Seal) that collect in output(), which the connection moves to its
// send queue. So the queue, its caps and the batched flush work on
// ciphertext as they did on plaintext, and OpenSSL never touches the socket.
// Owned by the Connection; the SSL holds a reference to the SSL_CTX it was
// made from, so a reload's new context does not affect it.
//
// Once the handshake is done, the sending direction leaves OpenSSL for the
// suites tls_record.h covers: a TlsRecordSealer seals the records (OpenSSL's
// SSL_write costs 2 us per 200-byte record and touches its 7.6 KB SSL
// object), and where the kernel seals TLS the Connection hands it the keys
// and sends plaintext (StartKernel). Reading stays with OpenSSL. What keeps
// this correct (see also docs/TLS.md):
// - The sequence number: every record OpenSSL writes under the server's
//   final write key is counted (TLS 1.3: after SERVER_TRAFFIC_SECRET_0 is
//   derived, which covers the session ticket; TLS 1.2: after the server's
//   ChangeCipherSpec, which covers its Finished), so the first record sealed
//   here follows OpenSSL's last.
// - OpenSSL never writes again: renegotiation is off and no post-handshake
//   authentication is asked for. If it does (a TLS 1.3 KeyUpdate with
//   update_requested from the peer, which needs a new write key; an alert
//   on a broken record), its output cannot be sequenced with ours: it is
//   dropped and the channel fails, and the connection ends without it.
// - A key never seals more than record_limit records (2^24, under AES-GCM's
//   2^24.5 of RFC 8446 §5.5): before that, close_notify is sealed and the
//   channel closes, so no nonce is ever used twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace notifyd::transport {

class TlsRecordSealer;
struct TlsSendKeys;

class TlsChannel {
 public:
  enum class Status {
    kOk,      ///< Everything fed was used; more may follow.
    kClosed,  ///< The peer sent close_notify: as end of file.
    kFailed,  ///< A fatal error (handshake refused, bad record): see error().
  };

  /// Plaintext from the peer; false to stop reading (the connection closed).
  using Deliver = std::function<bool(std::string_view plaintext)>;

  /// Who seals the records sent.
  enum class Sealing {
    kOpenSsl,    ///< SSL_write: during the handshake, and for other suites.
    kUserspace,  ///< TlsRecordSealer.
    kKernel,     ///< The socket (kernel TLS): the connection sends plaintext.
  };

  struct Options {
    bool take_over = true;               ///< False: SSL_write all along (tests).
    bool kernel = true;                  ///< Try kernel TLS where it is offered.
    uint64_t record_limit = 1ull << 24;  ///< Records sealed per key, at most.
  };

  explicit TlsChannel(SSL_CTX* ctx);
  TlsChannel(SSL_CTX* ctx, const Options& options);
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  /// Feeds ciphertext read from the socket: advances the handshake, then
  /// decrypts into `buffer` and calls `deliver` with each piece of plaintext.
  Status Receive(std::string_view ciphertext, std::vector<char>& buffer, const Deliver& deliver);
  /// Encrypts `plaintext` into output(). REQUIRES: established(), not
  /// sealing by the kernel. False after a fatal error, and when the record
  /// limit is reached: then close_notify is in output() and closed().
  bool Seal(std::string_view plaintext);
  /// Appends close_notify to output(), once; nothing before the handshake is
  /// done. With kernel sealing only marks the channel closed: the connection
  /// sends close_notify by the socket (SendKernelCloseNotify).
  void Close();

  /// Kernel TLS is offered and this connection's suite can use it: the
  /// connection should call StartKernel once it has sent all ciphertext.
  bool kernel_wanted() const { return kernel_keys_ != nullptr; }
  /// Hands the sending direction to the kernel on the socket `fd`; REQUIRES:
  /// every record made so far has been written to `fd`. True: from now on
  /// the connection sends plaintext. False: records stay sealed here (for
  /// good; the reason is logged once).
  bool StartKernel(int fd);
  /// Kernel sealing: counts a send of `bytes` (a conservative count of the
  /// records the kernel made); true once the record limit is near, when the
  /// connection should end.
  bool CountKernelSend(size_t bytes);
  Sealing sealing() const { return sealing_; }
  bool closed() const { return closed_; }

  /// Ciphertext made by the calls above and not taken yet.
  std::string& output() { return output_; }
  /// The handshake is done: plaintext can be sealed.
  bool established() const { return established_; }
  bool failed() const { return failed_; }
  /// What went wrong, for a debug line ("wrong version number").
  const std::string& error() const { return error_; }
  /// "TLSv1.3 TLS_AES_256_GCM_SHA384 alpn=http/1.1 sealed=userspace", once
  /// established.
  std::string Describe() const;

  /// Sets up `ctx` for the takeover (the key log that yields TLS 1.3's
  /// traffic secret); every SSL_CTX a TlsChannel is made from needs it.
  static void PrepareContext(SSL_CTX* ctx);

 private:
  struct Handshake;  ///< The secret and the record count, until the takeover.

  Status Fail(int ssl_error);
  Status FailTakenOver(const char* why);
  void TakeOver();
  void OnRecordWritten(uint8_t type);
  bool taken_over() const { return sealing_ != Sealing::kOpenSsl; }

  SSL* ssl_;
  Options options_;
  Sealing sealing_ = Sealing::kOpenSsl;
  std::unique_ptr<Handshake> handshake_;
  std::unique_ptr<TlsRecordSealer> sealer_;
  std::unique_ptr<TlsSendKeys> kernel_keys_;  ///< Until StartKernel.
  uint64_t kernel_records_ = 0;               ///< Kernel sealing: records, at most.
  std::string_view input_;                    ///< Ciphertext fed and not yet taken by OpenSSL.
  std::string output_;
  std::string error_;
  bool established_ = false;
  bool failed_ = false;
  bool closed_ = false;

  friend struct TlsBio;  ///< The memory "socket" OpenSSL reads and writes.
  friend struct TlsCallbacks;
};

}  // namespace notifyd::transport
