#include "transport/tls_channel.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "transport/tls_record.h"

namespace notifyd::transport {

// A BIO whose writes append to the channel's output and whose reads take
// from the input being fed: no buffer of its own, so an idle connection
// holds none (a BIO pair or memory BIO keeps its buffer once grown).
struct TlsBio {
  static int Write(BIO* bio, const char* data, int len) {
    auto* channel = static_cast<TlsChannel*>(BIO_get_data(bio));
    if (channel->taken_over()) {
      // Under a key whose sequence numbers are ours now: it cannot go out.
      channel->FailTakenOver("OpenSSL had a record to send after the takeover");
      return len;
    }
    channel->output_.append(data, static_cast<size_t>(len));
    return len;
  }

  static int Read(BIO* bio, char* out, int len) {
    auto* channel = static_cast<TlsChannel*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (channel->input_.empty()) {
      BIO_set_retry_read(bio);  // SSL_ERROR_WANT_READ: wait for the socket
      return -1;
    }
    size_t n = std::min(channel->input_.size(), static_cast<size_t>(len));
    std::memcpy(out, channel->input_.data(), n);
    channel->input_.remove_prefix(n);
    return static_cast<int>(n);
  }

  static long Ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
  }

  static int Create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }

  // Made once, kept for the life of the process.
  static const BIO_METHOD* Method() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "notifyd queue");
      if (m == nullptr) throw std::runtime_error("BIO_meth_new failed");
      BIO_meth_set_write(m, Write);
      BIO_meth_set_read(m, Read);
      BIO_meth_set_ctrl(m, Ctrl);
      BIO_meth_set_create(m, Create);
      return m;
    }();
    return method;
  }
};

struct TlsChannel::Handshake {
  ~Handshake() { OPENSSL_cleanse(secret, sizeof secret); }

  unsigned char secret[EVP_MAX_MD_SIZE];  ///< TLS 1.3: SERVER_TRAFFIC_SECRET_0.
  size_t secret_size = 0;
  uint64_t records = 0;  ///< Written under the server's current write key.
};

// OpenSSL's callbacks, which see the handshake's secrets and every record
// header it writes.
struct TlsCallbacks {
  // TLS 1.3: "SERVER_TRAFFIC_SECRET_0 <client random> <secret>", in hex, when
  // the server's application key is made; the records written from then on
  // (the session ticket) are under it. OpenSSL wipes the line afterwards.
  static void KeyLog(const SSL* ssl, const char* line) {
    auto* channel = static_cast<TlsChannel*>(SSL_get_app_data(ssl));
    static constexpr char kLabel[] = "SERVER_TRAFFIC_SECRET_0 ";
    if (channel == nullptr || !channel->handshake_ ||
        std::strncmp(line, kLabel, sizeof kLabel - 1) != 0) {
      return;
    }
    const char* hex = std::strchr(line + sizeof kLabel - 1, ' ');
    if (hex == nullptr) return;
    ++hex;
    TlsChannel::Handshake& handshake = *channel->handshake_;
    const size_t size = std::strlen(hex) / 2;
    if (size > sizeof handshake.secret) return;
    for (size_t i = 0; i < size; ++i) {
      const int high = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[2 * i]));
      const int low = OPENSSL_hexchar2int(static_cast<unsigned char>(hex[2 * i + 1]));
      if (high < 0 || low < 0) return;
      handshake.secret[i] = static_cast<unsigned char>(high << 4 | low);
    }
    handshake.secret_size = size;
    handshake.records = 0;
  }

  static void Message(int write_p, int, int content_type, const void* buf, size_t len, SSL*,
                      void* arg) {
    if (write_p == 1 && content_type == SSL3_RT_HEADER && len > 0) {
      static_cast<TlsChannel*>(arg)->OnRecordWritten(*static_cast<const unsigned char*>(buf));
    }
  }
};

void TlsChannel::PrepareContext(SSL_CTX* ctx) {
  SSL_CTX_set_keylog_callback(ctx, TlsCallbacks::KeyLog);
}

TlsChannel::TlsChannel(SSL_CTX* ctx) : TlsChannel(ctx, Options()) {}

TlsChannel::TlsChannel(SSL_CTX* ctx, const Options& options)
    : ssl_(SSL_new(ctx)), options_(options) {
  BIO* bio = ssl_ != nullptr ? BIO_new(TlsBio::Method()) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw std::runtime_error("cannot make a TLS connection: out of memory");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, taken by the SSL
  SSL_set_accept_state(ssl_);
  SSL_set_app_data(ssl_, this);
  if (options_.take_over) {
    handshake_ = std::make_unique<Handshake>();
    SSL_set_msg_callback(ssl_, TlsCallbacks::Message);
    SSL_set_msg_callback_arg(ssl_, this);
  }
}

// TLS 1.2: the server's ChangeCipherSpec switches its write key; the
// records after it (its Finished) are under the key handed over. TLS 1.3
// sends one (middlebox compatibility) before any record under a traffic key.
void TlsChannel::OnRecordWritten(uint8_t type) {
  if (!handshake_) return;
  if (type == SSL3_RT_CHANGE_CIPHER_SPEC) {
    handshake_->records = 0;
  } else {
    ++handshake_->records;
  }
}

void TlsChannel::TakeOver() {
  const std::unique_ptr<Handshake> handshake = std::move(handshake_);
  SSL_set_msg_callback(ssl_, nullptr);
  if (!handshake || !SealableSuite(ssl_)) return;  // SSL_write goes on sealing
  TlsSendKeys keys;
  std::string why;
  if (!DeriveSendKeys(ssl_, handshake->secret, handshake->secret_size, handshake->records, &keys,
                      &why) ||
      !(sealer_ = TlsRecordSealer::Make(keys, &why))) {
    spdlog::debug("TLS: records stay with OpenSSL: {}", why);
    return;
  }
  sealing_ = Sealing::kUserspace;
  if (options_.kernel && KernelTlsOffered()) kernel_keys_ = std::make_unique<TlsSendKeys>(keys);
}

bool TlsChannel::StartKernel(int fd) {
  const std::unique_ptr<TlsSendKeys> keys = std::move(kernel_keys_);
  if (!keys || !sealer_ || closed_ || failed_) return false;
  sealer_->Export(keys.get());
  std::string why;
  if (!StartKernelTls(fd, *keys, &why)) {
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      spdlog::info("TLS: records sealed in userspace (the kernel refused TLS_TX: {})", why);
    }
    return false;
  }
  kernel_records_ = keys->seq;
  sealer_.reset();
  sealing_ = Sealing::kKernel;
  return true;
}

// The kernel makes at least one record per send and at most 16 KB each; it
// may cut them shorter, so 4 KB each is counted: the connection ends early
// rather than late.
bool TlsChannel::CountKernelSend(size_t bytes) {
  kernel_records_ += 1 + bytes / 4096;
  return kernel_records_ + 1 >= options_.record_limit;
}

TlsChannel::~TlsChannel() { SSL_free(ssl_); }

TlsChannel::Status TlsChannel::Receive(std::string_view ciphertext, std::vector<char>& buffer,
                                       const Deliver& deliver) {
  if (failed_) return Status::kFailed;
  ERR_clear_error();
  input_ = ciphertext;
  if (!established_) {
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ) return Status::kOk;
      return Fail(e);
    }
    established_ = true;
    TakeOver();
  }
  // Decrypt everything fed: nothing stays behind in OpenSSL waiting for a
  // socket event that will not come.
  for (;;) {
    int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) {
      if (failed_) break;  // OpenSSL wrote after the takeover
      if (!deliver(std::string_view(buffer.data(), static_cast<size_t>(n)))) break;
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      input_ = {};
      return Status::kClosed;
    }
    return Fail(e);
  }
  input_ = {};
  if (failed_) return Status::kFailed;
  // A KeyUpdate with update_requested asks for a new write key before our
  // next record: only OpenSSL could send it, with sequence numbers it no
  // longer has. (OpenSSL 3.0 writes it at once, and the BIO refused that.)
  if (taken_over() && SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE) {
    return FailTakenOver("the peer asked for a KeyUpdate");
  }
  return Status::kOk;
}

TlsChannel::Status TlsChannel::FailTakenOver(const char* why) {
  if (!failed_) error_ = why;
  failed_ = true;
  return Status::kFailed;
}

bool TlsChannel::Seal(std::string_view plaintext) {
  if (failed_ || closed_) return false;
  if (plaintext.empty()) return true;
  if (sealer_) {
    // One record is kept for close_notify.
    if (sealer_->seq() + TlsRecordSealer::RecordsFor(plaintext.size()) >= options_.record_limit) {
      Close();
      error_ = "the record limit of the key is reached";
      return false;
    }
    if (!sealer_->Seal(TlsRecordSealer::kApplicationData, plaintext, output_)) {
      FailTakenOver("cannot seal a record");
      return false;
    }
    return true;
  }
  ERR_clear_error();
  // The BIO always takes everything, so a write is never partial.
  int n = SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
  if (n <= 0) {
    Fail(SSL_get_error(ssl_, n));
    return false;
  }
  return true;
}

void TlsChannel::Close() {
  if (!established_ || failed_ || closed_) return;
  closed_ = true;
  kernel_keys_.reset();
  if (sealing_ == Sealing::kKernel) return;  // the connection sends it by the socket
  if (sealer_) {
    sealer_->Seal(TlsRecordSealer::kAlert,
                  std::string_view(kCloseNotifyAlert, sizeof kCloseNotifyAlert), output_);
    return;
  }
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; the peer's is not waited for
  ERR_clear_error();
}

std::string TlsChannel::Describe() const {
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  std::string text = std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
  if (alpn_len > 0) text += " alpn=" + std::string(reinterpret_cast<const char*>(alpn), alpn_len);
  switch (sealing_) {
    case Sealing::kOpenSsl: text += " sealed=openssl"; break;
    case Sealing::kUserspace:
      text += kernel_keys_ ? " sealed=userspace,kernel-next" : " sealed=userspace";
      break;
    case Sealing::kKernel: text += " sealed=kernel"; break;
  }
  return text;
}

TlsChannel::Status TlsChannel::Fail(int ssl_error) {
  failed_ = true;
  input_ = {};
  unsigned long code = ERR_peek_last_error();
  if (ssl_error == SSL_ERROR_SSL && code != 0) {
    const char* reason = ERR_reason_error_string(code);
    error_ = reason != nullptr ? reason : "error " + std::to_string(code);
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    error_ = "unexpected end of the stream";
  } else {
    error_ = "TLS error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
  return Status::kFailed;
}

}  // namespace notifyd::transport
