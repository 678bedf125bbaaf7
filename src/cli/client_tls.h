// The TLS side of notifyd-cli's clients, https:// (http_client.h) and wss://
// (websocket_client.h): one way to verify a server, and one way to say
// plainly that its certificate did not verify.
#pragma once

#include <string>

typedef struct ssl_st SSL;
namespace asio::ssl {
class context;
}

namespace notifyd::cli {

/// The CA certificates (PEM) https:// and wss:// servers are verified
/// against, from --ca; "" (the default) is the system's store (/etc/ssl/certs).
void SetCaFile(std::string path);

/// Sets up `ctx` as a client's: TLS 1.2 or newer, the server's chain verified
/// against SetCaFile's CA or the system's, its certificate naming `host`.
/// False with *error when the CA certificates do not load.
bool SetUpClientTls(asio::ssl::context* ctx, const std::string& host, std::string* error);

/// After a failed handshake on `ssl`: "the certificate of HOST:PORT does not
/// verify: REASON", with a hint at --ca when none was given; "" when the
/// certificate was not what failed.
std::string CertificateFailure(const SSL* ssl, const std::string& host_port);

}  // namespace notifyd::cli
