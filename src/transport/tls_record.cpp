#include "transport/tls_record.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

namespace notifyd::transport {

namespace {

constexpr size_t kTagSize = 16;
constexpr size_t kMaxKey = 32;

void PutBigEndian64(uint64_t value, unsigned char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(value);
    value >>= 8;
  }
}

// Fetched once for the life of the process: an implicit fetch per
// connection (EVP_aes_128_gcm()) would look the cipher up every time.
const EVP_CIPHER* CipherOf(TlsSendKeys::Cipher cipher) {
  static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  switch (cipher) {
    case TlsSendKeys::Cipher::kAes128Gcm: return aes128;
    case TlsSendKeys::Cipher::kAes256Gcm: return aes256;
    case TlsSendKeys::Cipher::kChaCha20Poly1305: return chacha;
  }
  return nullptr;
}

bool CipherOfSuite(const SSL_CIPHER* suite, TlsSendKeys::Cipher* cipher, size_t* key_len) {
  if (suite == nullptr) return false;
  switch (SSL_CIPHER_get_cipher_nid(suite)) {
    case NID_aes_128_gcm: *cipher = TlsSendKeys::Cipher::kAes128Gcm, *key_len = 16; return true;
    case NID_aes_256_gcm: *cipher = TlsSendKeys::Cipher::kAes256Gcm, *key_len = 32; return true;
    case NID_chacha20_poly1305:
      *cipher = TlsSendKeys::Cipher::kChaCha20Poly1305, *key_len = 32;
      return true;
    default: return false;
  }
}

// One derivation by the EVP_KDF `name` with `params` (the digest first).
bool Derive(const char* name, OSSL_PARAM* params, unsigned char* out, size_t len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, len, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

// RFC 8446 §7.1: HKDF-Expand-Label(secret, label, "", len).
bool ExpandLabel(const EVP_MD* md, const unsigned char* secret, size_t secret_len,
                 const char* label, unsigned char* out, size_t len) {
  unsigned char info[2 + 1 + 6 + 16 + 1];
  const size_t label_len = std::strlen(label);
  size_t n = 0;
  info[n++] = static_cast<unsigned char>(len >> 8);
  info[n++] = static_cast<unsigned char>(len);
  info[n++] = static_cast<unsigned char>(6 + label_len);
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label, label_len);
  n += label_len;
  info[n++] = 0;  // no context
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret),
                                        secret_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
      OSSL_PARAM_construct_end(),
  };
  return Derive("HKDF", params, out, len);
}

// RFC 5246 §6.3: the key block, PRF(master, "key expansion",
// server_random + client_random).
bool KeyBlock(const SSL* ssl, const EVP_MD* md, unsigned char* out, size_t len) {
  unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
  const size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof master);
  unsigned char seed[13 + 2 * SSL3_RANDOM_SIZE];
  std::memcpy(seed, "key expansion", 13);
  SSL_get_server_random(ssl, seed + 13, SSL3_RANDOM_SIZE);
  SSL_get_client_random(ssl, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, master_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = master_len > 0 && Derive("TLS1-PRF", params, out, len);
  OPENSSL_cleanse(master, sizeof master);
  return ok;
}

}  // namespace

TlsSendKeys::~TlsSendKeys() { OPENSSL_cleanse(key, sizeof key); }

bool SealableSuite(const SSL* ssl) {
  TlsSendKeys::Cipher cipher;
  size_t key_len;
  const int version = SSL_version(ssl);
  return (version == TLS1_3_VERSION || version == TLS1_2_VERSION) &&
         CipherOfSuite(SSL_get_current_cipher(ssl), &cipher, &key_len);
}

bool DeriveSendKeys(const SSL* ssl, const unsigned char* secret, size_t secret_len, uint64_t seq,
                    TlsSendKeys* keys, std::string* why) {
  const SSL_CIPHER* suite = SSL_get_current_cipher(ssl);
  if (!SealableSuite(ssl) || !CipherOfSuite(suite, &keys->cipher, &keys->key_len)) {
    *why = "not an AEAD suite sealed here";
    return false;
  }
  const EVP_MD* md = SSL_CIPHER_get_handshake_digest(suite);
  if (md == nullptr) {
    *why = "no digest for the suite";
    return false;
  }
  keys->version = SSL_version(ssl);
  keys->seq = seq;
  if (keys->version == TLS1_3_VERSION) {
    if (secret == nullptr || secret_len != static_cast<size_t>(EVP_MD_get_size(md))) {
      *why = "no server traffic secret";
      return false;
    }
    if (!ExpandLabel(md, secret, secret_len, "key", keys->key, keys->key_len) ||
        !ExpandLabel(md, secret, secret_len, "iv", keys->iv, sizeof keys->iv)) {
      *why = "HKDF-Expand-Label failed";
      return false;
    }
    return true;
  }
  // TLS 1.2: client key, server key, client IV, server IV; no MAC keys for
  // an AEAD. The fixed IV is 4 bytes (AES-GCM) or 12 (ChaCha20-Poly1305).
  const bool gcm = keys->cipher != TlsSendKeys::Cipher::kChaCha20Poly1305;
  const size_t fixed = gcm ? 4 : 12;
  unsigned char block[2 * kMaxKey + 2 * 12];
  const size_t block_len = 2 * keys->key_len + 2 * fixed;
  if (!KeyBlock(ssl, md, block, block_len)) {
    OPENSSL_cleanse(block, sizeof block);
    *why = "the key expansion failed";
    return false;
  }
  std::memcpy(keys->key, block + keys->key_len, keys->key_len);
  std::memcpy(keys->iv, block + 2 * keys->key_len + fixed, fixed);
  OPENSSL_cleanse(block, sizeof block);
  if (gcm) PutBigEndian64(seq, keys->iv + 4);  // the explicit nonce: the sequence number
  return true;
}

// --- the sealer ---------------------------------------------------------------------

std::unique_ptr<TlsRecordSealer> TlsRecordSealer::Make(const TlsSendKeys& keys, std::string* why) {
  std::unique_ptr<TlsRecordSealer> sealer(new TlsRecordSealer);
  const EVP_CIPHER* cipher = CipherOf(keys.cipher);
  sealer->ctx_ = EVP_CIPHER_CTX_new();
  if (cipher == nullptr || sealer->ctx_ == nullptr ||
      EVP_EncryptInit_ex(sealer->ctx_, cipher, nullptr, keys.key, nullptr) != 1) {
    *why = "cannot set up the cipher";
    return nullptr;
  }
  std::memcpy(sealer->iv_, keys.iv, sizeof sealer->iv_);
  sealer->seq_ = keys.seq;
  sealer->tls13_ = keys.version == TLS1_3_VERSION;
  sealer->explicit_nonce_ =
      !sealer->tls13_ && keys.cipher != TlsSendKeys::Cipher::kChaCha20Poly1305;
  return sealer;
}

TlsRecordSealer::~TlsRecordSealer() {
  EVP_CIPHER_CTX_free(ctx_);  // cleanses the key schedule
  OPENSSL_cleanse(iv_, sizeof iv_);
}

bool TlsRecordSealer::Seal(uint8_t type, std::string_view plaintext, std::string& out) {
  do {
    const size_t n = std::min(plaintext.size(), kMaxPlaintext);
    if (!SealOne(type, plaintext.data(), n, out)) return false;
    plaintext.remove_prefix(n);
  } while (!plaintext.empty());
  return true;
}

// TLS 1.3 (RFC 8446 §5.2): 23 03 03 len | AEAD(plaintext || type), nonce =
// IV xor seq, the header as additional data. TLS 1.2 (RFC 5246 §6.2.3.3):
// type 03 03 len | [explicit nonce] | AEAD(plaintext), additional data
// seq || type || 03 03 || plaintext length; AES-GCM's nonce is the salt and
// the explicit nonce sent (RFC 5288), ChaCha20-Poly1305's IV xor seq (RFC 7905).
bool TlsRecordSealer::SealOne(uint8_t type, const char* data, size_t size, std::string& out) {
  unsigned char seq[8];
  PutBigEndian64(seq_, seq);
  unsigned char nonce[12];
  std::memcpy(nonce, iv_, sizeof nonce);
  if (!explicit_nonce_) {
    for (int i = 0; i < 8; ++i) nonce[4 + i] ^= seq[i];
  }
  const size_t explicit_size = explicit_nonce_ ? 8 : 0;
  const size_t inner = size + (tls13_ ? 1 : 0);
  const size_t length = explicit_size + inner + kTagSize;
  const size_t start = out.size();
  out.resize(start + 5 + length);
  auto* record = reinterpret_cast<unsigned char*>(&out[start]);
  record[0] = tls13_ ? kApplicationData : type;
  record[1] = 3;
  record[2] = 3;
  record[3] = static_cast<unsigned char>(length >> 8);
  record[4] = static_cast<unsigned char>(length);
  unsigned char aad[13];
  size_t aad_size = 5;
  if (tls13_) {
    std::memcpy(aad, record, 5);
  } else {
    std::memcpy(aad, seq, 8);
    aad[8] = type;
    aad[9] = 3;
    aad[10] = 3;
    aad[11] = static_cast<unsigned char>(size >> 8);
    aad[12] = static_cast<unsigned char>(size);
    aad_size = 13;
    if (explicit_nonce_) std::memcpy(record + 5, iv_ + 4, 8);
  }
  unsigned char* body = record + 5 + explicit_size;
  if (size > 0) std::memcpy(body, data, size);
  if (tls13_) body[size] = type;
  int n = 0;
  if (EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_EncryptUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aad_size)) != 1 ||
      EVP_EncryptUpdate(ctx_, body, &n, body, static_cast<int>(inner)) != 1 ||
      EVP_EncryptFinal_ex(ctx_, body + inner, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagSize, body + inner) != 1) {
    out.resize(start);
    return false;
  }
  ++seq_;
  if (explicit_nonce_) {
    for (int i = 11; i >= 4 && ++iv_[i] == 0; --i) {
    }
  }
  return true;
}

void TlsRecordSealer::Export(TlsSendKeys* keys) const {
  std::memcpy(keys->iv, iv_, sizeof iv_);
  keys->seq = seq_;
}

// --- kernel TLS ---------------------------------------------------------------------

// Documentation/networking/tls.rst: attach the "tls" upper layer protocol,
// then give TLS_TX the key, the salt and IV (AES-GCM: the first 4 bytes of
// the 12 are the salt, the last 8 the "iv", for TLS 1.3 the static IV's
// tail, for 1.2 the next explicit nonce) and the next record's sequence
// number, big-endian. The kernel then seals what is written as records of
// type 23 (another type per sendmsg with TLS_SET_RECORD_TYPE).
namespace {

// The AES-GCM layouts differ only in the key's size: salt (the IV's first 4
// bytes), iv (its last 8), key, rec_seq. Returns the size to give TLS_TX.
template <typename Info>
socklen_t FillAesGcm(Info* info, uint16_t version, uint16_t cipher, const TlsSendKeys& keys) {
  info->info = {version, cipher};
  std::memcpy(info->salt, keys.iv, sizeof info->salt);
  std::memcpy(info->iv, keys.iv + sizeof info->salt, sizeof info->iv);
  std::memcpy(info->key, keys.key, sizeof info->key);
  PutBigEndian64(keys.seq, info->rec_seq);
  return sizeof *info;
}

}  // namespace

bool StartKernelTls(int fd, const TlsSendKeys& keys, std::string* why) {
  union {
    tls12_crypto_info_aes_gcm_128 aes128;
    tls12_crypto_info_aes_gcm_256 aes256;
    tls12_crypto_info_chacha20_poly1305 chacha;
  } info;
  std::memset(&info, 0, sizeof info);
  const uint16_t version = keys.version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION;
  socklen_t size = 0;
  switch (keys.cipher) {
    case TlsSendKeys::Cipher::kAes128Gcm:
      size = FillAesGcm(&info.aes128, version, TLS_CIPHER_AES_GCM_128, keys);
      break;
    case TlsSendKeys::Cipher::kAes256Gcm:
      size = FillAesGcm(&info.aes256, version, TLS_CIPHER_AES_GCM_256, keys);
      break;
    case TlsSendKeys::Cipher::kChaCha20Poly1305:
      info.chacha.info = {version, TLS_CIPHER_CHACHA20_POLY1305};
      std::memcpy(info.chacha.iv, keys.iv, 12);
      std::memcpy(info.chacha.key, keys.key, 32);
      PutBigEndian64(keys.seq, info.chacha.rec_seq);
      size = sizeof info.chacha;
      break;
  }
  bool ok = ::setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") == 0;
  if (ok) ok = ::setsockopt(fd, SOL_TLS, TLS_TX, &info, size) == 0;
  if (!ok) *why = std::strerror(errno);
  OPENSSL_cleanse(&info, sizeof info);
  return ok;
}

bool SendKernelCloseNotify(int fd) {
  iovec iov{const_cast<char*>(kCloseNotifyAlert), sizeof kCloseNotifyAlert};
  alignas(cmsghdr) char control[CMSG_SPACE(1)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_TLS;
  cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
  cmsg->cmsg_len = CMSG_LEN(1);
  *CMSG_DATA(cmsg) = TlsRecordSealer::kAlert;
  return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof kCloseNotifyAlert;
}

namespace {

// Attaches TLS_TX with a throw-away key to one end of a loopback connection:
// what a client's socket gets, so "offered" means it would work.
std::pair<bool, std::string> ProbeKernelTls() {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::pair<bool, std::string> result{false, "no loopback connection to try it on"};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener >= 0 && client >= 0 &&
      ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::listen(listener, 1) == 0 &&
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
      ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    TlsSendKeys keys;
    keys.version = TLS1_3_VERSION;
    keys.key_len = 16;
    std::string why;
    result.first = StartKernelTls(client, keys, &why);
    result.second = std::move(why);
  }
  if (client >= 0) ::close(client);
  if (listener >= 0) ::close(listener);
  return result;
}

}  // namespace

bool KernelTlsOffered(std::string* reason) {
  static const std::pair<bool, std::string> probe = ProbeKernelTls();
  if (reason != nullptr) *reason = probe.second;
  return probe.first;
}

}  // namespace notifyd::transport
