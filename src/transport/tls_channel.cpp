#include "transport/tls_channel.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace notifyd::transport {

// A BIO whose writes append to the channel's output and whose reads take
// from the input being fed: no buffer of its own, so an idle connection
// holds none (a BIO pair or memory BIO keeps its buffer once grown).
struct TlsBio {
  static int Write(BIO* bio, const char* data, int len) {
    auto* channel = static_cast<TlsChannel*>(BIO_get_data(bio));
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

TlsChannel::TlsChannel(SSL_CTX* ctx) : ssl_(SSL_new(ctx)) {
  BIO* bio = ssl_ != nullptr ? BIO_new(TlsBio::Method()) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw std::runtime_error("cannot make a TLS connection: out of memory");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, taken by the SSL
  SSL_set_accept_state(ssl_);
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
  }
  // Decrypt everything fed: nothing stays behind in OpenSSL waiting for a
  // socket event that will not come.
  for (;;) {
    int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) {
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
  return Status::kOk;
}

bool TlsChannel::Seal(std::string_view plaintext) {
  if (failed_ || closed_) return false;
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
