// The server's TLS settings and credentials: one OpenSSL SSL_CTX holding the
// certificate chain and key from [tls], TLS 1.2 and 1.3 only, ALPN http/1.1,
// buffers released while a connection is idle. Loaded at start, by
// --check-config, and again at every reload; a reload that loads a new one
// hands it to new connections only (an SSL keeps its SSL_CTX alive), so
// connections already open stay up. Loading checks what would otherwise fail
// at the first client: that the files parse, that the key belongs to the
// certificate, and that the certificate is valid now.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace notifyd::transport {

class TlsContext {
 public:
  /// Loads [tls] certificate and key of `config` (relative names from
  /// $CREDENTIALS_DIRECTORY). Null with *error ("tls.certificate
  /// /path: what is wrong") when they cannot serve.
  static std::shared_ptr<TlsContext> Load(const config::Config& config, std::string* error);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  /// For log lines: "CN=example.org, valid until 2026-09-01 12:00:00 UTC".
  const std::string& description() const { return description_; }

 private:
  TlsContext(SSL_CTX* ctx, std::string description)
      : ctx_(ctx), description_(std::move(description)) {}

  SSL_CTX* ctx_;
  std::string description_;
};

}  // namespace notifyd::transport
