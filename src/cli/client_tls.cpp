#include "cli/client_tls.h"

#include <utility>

#include <asio/ssl/context.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace notifyd::cli {
namespace {

std::string& CaFileSetting() {
  static std::string path;
  return path;
}

}  // namespace

void SetCaFile(std::string path) { CaFileSetting() = std::move(path); }

bool SetUpClientTls(asio::ssl::context* ctx, const std::string& host, std::string* error) {
  asio::error_code ec;
  ctx->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  const std::string& ca = CaFileSetting();
  if (ca.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(ca, ec);
  }
  if (ec) {
    *error = "cannot load the CA certificates" + (ca.empty() ? "" : " in " + ca) + ": " +
             ec.message();
    return false;
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  ctx->set_verify_callback(asio::ssl::host_name_verification(host));
  return true;
}

std::string CertificateFailure(const SSL* ssl, const std::string& host_port) {
  long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_OK) return "";
  return "the certificate of " + host_port + " does not verify: " +
         X509_verify_cert_error_string(verify) +
         (CaFileSetting().empty() ? " (give its CA with --ca FILE)" : "");
}

}  // namespace notifyd::cli
