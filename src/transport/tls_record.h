// The sending direction of a TLS connection once the handshake is done,
// without OpenSSL's record layer: the server's write key and IV derived from
// the handshake's secrets, a lean sealer of records (one AEAD context per
// connection, a nonce per record), and kernel TLS (TLS_TX), which seals the
// records itself from the same key material. TlsChannel decides which one
// serves a connection; docs/TLS.md says why and what keeps it correct.
//
// Covered: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 in TLS 1.3
// (RFC 8446 §5.2-5.3) and TLS 1.2 (RFC 5288, RFC 7905). Any other suite
// stays with SSL_write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace notifyd::transport {

/// The server's write state at one record boundary: what a sealer or the
/// kernel needs to go on where OpenSSL stopped. Wiped when destroyed.
struct TlsSendKeys {
  enum class Cipher { kAes128Gcm, kAes256Gcm, kChaCha20Poly1305 };

  TlsSendKeys() = default;
  TlsSendKeys(const TlsSendKeys&) = default;
  TlsSendKeys& operator=(const TlsSendKeys&) = default;
  ~TlsSendKeys();

  int version = 0;  ///< TLS1_2_VERSION or TLS1_3_VERSION.
  Cipher cipher = Cipher::kAes128Gcm;
  unsigned char key[32] = {};
  size_t key_len = 0;
  /// TLS 1.3, and ChaCha20-Poly1305 in 1.2: the 12-byte IV, XORed with the
  /// sequence number for each record's nonce. TLS 1.2 AES-GCM: the 4-byte
  /// salt, then the explicit nonce of the next record (8 bytes, one more
  /// for every record; RFC 5288), as the kernel's crypto_info keeps them.
  unsigned char iv[12] = {};
  uint64_t seq = 0;  ///< The sequence number of the next record.
};

/// The alert that ends a TLS connection cleanly: level warning, close_notify.
inline constexpr char kCloseNotifyAlert[2] = {1, 0};

/// Whether the suite negotiated on `ssl` is one this file seals.
bool SealableSuite(const SSL* ssl);

/// The server's write keys of the established `ssl`, the next record being
/// number `seq`. TLS 1.3: from SERVER_TRAFFIC_SECRET_0 (`secret`, from the
/// key log) by HKDF-Expand-Label "key" and "iv"; TLS 1.2: from the master
/// secret and the randoms by the PRF's "key expansion" (`secret` unused),
/// the explicit nonce starting at `seq`. False with *why.
bool DeriveSendKeys(const SSL* ssl, const unsigned char* secret, size_t secret_len, uint64_t seq,
                    TlsSendKeys* keys, std::string* why);

/// Seals records into a send queue: one AEAD context, keyed once; per
/// record only a nonce, the additional data and one encryption in place.
class TlsRecordSealer {
 public:
  static constexpr size_t kMaxPlaintext = 16384;  ///< Per record (RFC 8446 §5.1).
  static constexpr uint8_t kApplicationData = 23;
  static constexpr uint8_t kAlert = 21;

  /// Null with *why when OpenSSL cannot make the cipher.
  static std::unique_ptr<TlsRecordSealer> Make(const TlsSendKeys& keys, std::string* why);
  ~TlsRecordSealer();
  TlsRecordSealer(const TlsRecordSealer&) = delete;
  TlsRecordSealer& operator=(const TlsRecordSealer&) = delete;

  /// Appends `plaintext` to `out` as records of `type`, at most
  /// kMaxPlaintext bytes each (an empty plaintext: one empty record).
  /// False only if OpenSSL's cipher fails (out of memory).
  bool Seal(uint8_t type, std::string_view plaintext, std::string& out);
  /// The sequence number of the next record.
  uint64_t seq() const { return seq_; }
  /// Records that sealing `size` bytes takes.
  static uint64_t RecordsFor(size_t size) {
    return size == 0 ? 1 : (size + kMaxPlaintext - 1) / kMaxPlaintext;
  }
  /// Writes the current IV / explicit nonce and sequence number into `keys`
  /// (the key is not kept here): the state to hand to the kernel.
  void Export(TlsSendKeys* keys) const;

 private:
  TlsRecordSealer() = default;
  bool SealOne(uint8_t type, const char* data, size_t size, std::string& out);

  EVP_CIPHER_CTX* ctx_ = nullptr;
  unsigned char iv_[12] = {};
  uint64_t seq_ = 0;
  bool tls13_ = false;
  bool explicit_nonce_ = false;  ///< TLS 1.2 AES-GCM.
};

/// Whether this kernel seals TLS records (the "tls" upper layer protocol with
/// TLS_TX), tried once on a loopback connection and remembered. False with
/// *reason ("Operation not supported", "No such file or directory").
bool KernelTlsOffered(std::string* reason = nullptr);

/// Hands the sending direction of the TCP socket `fd` to the kernel: from
/// then on plaintext written to it leaves as records sealed with `keys`.
/// False with *why (the socket is then as before: nothing sealed).
bool StartKernelTls(int fd, const TlsSendKeys& keys, std::string* why);

/// Sends close_notify on a socket the kernel seals for (a record of type 21
/// via TLS_SET_RECORD_TYPE). False if the socket did not take it now.
bool SendKernelCloseNotify(int fd);

}  // namespace notifyd::transport
