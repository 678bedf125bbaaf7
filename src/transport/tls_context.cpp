#include "transport/tls_context.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/config_parser.h"
#include "transport/tls_channel.h"

namespace notifyd::transport {

namespace {

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// The newest OpenSSL error as text ("no start line"), and the queue cleared.
std::string LastError() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "error " + std::to_string(code);
}

// RFC 7301: the client's list must hold http/1.1, the one protocol served;
// a client asking only for another (h2) is refused with
// no_application_protocol rather than surprised by HTTP/1.1.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof kAlpnHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string TimeText(const ASN1_TIME* t) {
  tm when{};
  if (ASN1_TIME_to_tm(t, &when) != 1) return "?";
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &when);
  return text;
}

std::string SubjectText(X509* cert) {
  char text[256];
  X509_NAME_oneline(X509_get_subject_name(cert), text, sizeof text);
  return text;
}

// The certificate must be valid now: an expired one (a renewal that did not
// happen) fails every browser's handshake, which is better said at start.
bool CheckValidity(X509* cert, const std::string& shown, std::string* error) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
    *error = shown + ": the certificate expired on " + TimeText(X509_get0_notAfter(cert));
    return false;
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
    *error = shown + ": the certificate is not valid before " +
             TimeText(X509_get0_notBefore(cert));
    return false;
  }
  return true;
}

SSL_CTX* NewServerContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Renegotiation is a CPU lever for clients and nothing notifyd needs.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle client holds no 16 KB read and write buffers (docs/TLS.md).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Resumption by stateless tickets only: no server-side session cache that
  // grows with clients. One ticket per handshake is enough for a reconnect.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  // The secrets the sending direction is taken over with (tls_channel.h).
  TlsChannel::PrepareContext(ctx);
  return ctx;
}

}  // namespace

std::shared_ptr<TlsContext> TlsContext::Load(const config::Config& config, std::string* error) {
  std::string cert_path, key_path, why;
  if (!config::CredentialPath(config.tls_certificate, &cert_path, &why)) {
    *error = "tls.certificate: " + why;
    return nullptr;
  }
  if (!config::CredentialPath(config.tls_key, &key_path, &why)) {
    *error = "tls.key: " + why;
    return nullptr;
  }
  const std::string cert_shown = "tls.certificate " + config::QuoteTomlString(cert_path);
  const std::string key_shown = "tls.key " + config::QuoteTomlString(key_path);
  ERR_clear_error();
  SSL_CTX* ctx = NewServerContext();
  if (ctx == nullptr) {
    *error = "cannot set up TLS: " + LastError();
    return nullptr;
  }
  auto fail = [&](const std::string& message) {
    SSL_CTX_free(ctx);
    *error = message;
    return nullptr;
  };
  if (access(cert_path.c_str(), R_OK) != 0) {
    return fail(cert_shown + ": cannot read: " + std::strerror(errno));
  }
  if (access(key_path.c_str(), R_OK) != 0) {
    return fail(key_shown + ": cannot read: " + std::strerror(errno));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    return fail(cert_shown + ": not a PEM certificate chain (" + LastError() + ")");
  }
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!CheckValidity(cert, cert_shown, error)) return fail(*error);
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail(key_shown + ": not a PEM private key, or not the key of the certificate (" +
                LastError() + ")");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail(key_shown + ": not the key of the certificate in " + cert_path + " (" +
                LastError() + ")");
  }
  std::string description =
      SubjectText(cert) + ", valid until " + TimeText(X509_get0_notAfter(cert));
  return std::shared_ptr<TlsContext>(new TlsContext(ctx, std::move(description)));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace notifyd::transport
