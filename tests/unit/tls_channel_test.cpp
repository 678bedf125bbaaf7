// The TLS layer of a connection driven without sockets: an OpenSSL client
// on memory BIOs talks to a TlsChannel made from the context [tls] loads
// (a certificate made here with OpenSSL's API, written to a temporary
// directory). The bytes in between are carried by the test, so a handshake
// in pieces, garbage and close_notify are exact.
#include "transport/tls_channel.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "transport/tls_context.h"

namespace notifyd::transport {
namespace {

namespace fs = std::filesystem;

// A self-signed P-256 certificate for localhost, valid for a day, and its key
// as PEM files in `dir`.
void WriteCertificate(const std::string& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  BIO* out = BIO_new_file((dir + "/cert.pem").c_str(), "w");
  PEM_write_bio_X509(out, cert);
  BIO_free(out);
  out = BIO_new_file((dir + "/key.pem").c_str(), "w");
  PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO_free(out);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class TlsChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "notifyd_tls_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    WriteCertificate(dir_);
    config::Config config;
    config.tls_certificate = dir_ + "/cert.pem";
    config.tls_key = dir_ + "/key.pem";
    std::string error;
    context_ = TlsContext::Load(config, &error);
    ASSERT_NE(context_, nullptr) << error;
    server_ = std::make_unique<TlsChannel>(context_->get());
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_NONE, nullptr);
  }

  void TearDown() override {
    SSL_free(client_);
    SSL_CTX_free(client_ctx_);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// The client, on two memory BIOs: `to_server_` holds what it wrote.
  void MakeClient(const unsigned char* alpn = kAlpn, unsigned alpn_len = sizeof kAlpn) {
    client_ = SSL_new(client_ctx_);
    to_server_ = BIO_new(BIO_s_mem());
    from_server_ = BIO_new(BIO_s_mem());
    SSL_set_bio(client_, from_server_, to_server_);
    SSL_set_tlsext_host_name(client_, "localhost");
    SSL_set_alpn_protos(client_, alpn, alpn_len);
    SSL_set_connect_state(client_);
  }

  std::string TakeFromClient() {
    std::string bytes(static_cast<size_t>(BIO_pending(to_server_)), '\0');
    if (!bytes.empty()) BIO_read(to_server_, bytes.data(), static_cast<int>(bytes.size()));
    return bytes;
  }

  void GiveToClient() {
    std::string& out = server_->output();
    if (!out.empty()) BIO_write(from_server_, out.data(), static_cast<int>(out.size()));
    out.clear();
  }

  /// Feeds the server, `chunk` bytes at a time (0: all at once); the
  /// plaintext it delivers collects in received_.
  TlsChannel::Status Feed(const std::string& ciphertext, size_t chunk = 0) {
    TlsChannel::Status status = TlsChannel::Status::kOk;
    size_t step = chunk == 0 ? ciphertext.size() : chunk;
    for (size_t i = 0; i < ciphertext.size() && status == TlsChannel::Status::kOk; i += step) {
      status = server_->Receive(std::string_view(ciphertext).substr(i, step), buffer_,
                                [this](std::string_view plaintext) {
                                  received_.append(plaintext);
                                  return true;
                                });
    }
    return status;
  }

  /// Runs the handshake to the end; false if a side failed.
  bool Handshake(size_t chunk = 0) {
    for (int round = 0; round < 10; ++round) {  // TLS 1.3 needs 2
      int r = SSL_do_handshake(client_);
      if (r != 1 && SSL_get_error(client_, r) != SSL_ERROR_WANT_READ) return false;
      if (Feed(TakeFromClient(), chunk) != TlsChannel::Status::kOk) return false;
      GiveToClient();
      if (r == 1 && server_->established()) return true;
    }
    return false;
  }

  /// What the client reads now, all of it.
  std::string ClientReads() {
    std::string text;
    char piece[4096];
    for (;;) {
      int n = SSL_read(client_, piece, sizeof piece);
      if (n <= 0) break;
      text.append(piece, static_cast<size_t>(n));
    }
    return text;
  }

  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  std::string dir_;
  std::shared_ptr<TlsContext> context_;
  std::unique_ptr<TlsChannel> server_;
  SSL_CTX* client_ctx_ = nullptr;
  SSL* client_ = nullptr;
  BIO* to_server_ = nullptr;
  BIO* from_server_ = nullptr;
  std::vector<char> buffer_ = std::vector<char>(16384);
  std::string received_;
};

TEST_F(TlsChannelTest, HandshakeThenBothWays) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  EXPECT_EQ(server_->Describe().rfind("TLSv1.3 ", 0), 0u) << server_->Describe();
  EXPECT_NE(server_->Describe().find("alpn=http/1.1"), std::string::npos);

  ASSERT_EQ(SSL_write(client_, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  EXPECT_EQ(Feed(TakeFromClient()), TlsChannel::Status::kOk);
  EXPECT_EQ(received_, "GET / HTTP/1.1\r\n\r\n");

  ASSERT_TRUE(server_->Seal("HTTP/1.1 200 OK\r\n"));
  ASSERT_TRUE(server_->Seal("\r\n"));
  GiveToClient();
  EXPECT_EQ(ClientReads(), "HTTP/1.1 200 OK\r\n\r\n");
}

// The socket hands over whatever arrived: a record split anywhere must wait
// for its end, in the handshake and after it.
TEST_F(TlsChannelTest, CiphertextOneByteAtATime) {
  MakeClient();
  ASSERT_TRUE(Handshake(1));
  const std::string request(3000, 'r');
  ASSERT_EQ(SSL_write(client_, request.data(), static_cast<int>(request.size())), 3000);
  EXPECT_EQ(Feed(TakeFromClient(), 1), TlsChannel::Status::kOk);
  EXPECT_EQ(received_, request);
}

// Larger than a record (16 KB): several records, in order, nothing lost.
TEST_F(TlsChannelTest, LargePlaintextInSeveralRecords) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  std::string body;
  for (int i = 0; body.size() < 100000; ++i) body += std::to_string(i) + ",";
  ASSERT_TRUE(server_->Seal(body));
  EXPECT_GT(server_->output().size(), body.size());
  GiveToClient();
  EXPECT_EQ(ClientReads(), body);
}

TEST_F(TlsChannelTest, GarbageInsteadOfClientHello) {
  EXPECT_EQ(Feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), TlsChannel::Status::kFailed);
  EXPECT_TRUE(server_->failed());
  EXPECT_FALSE(server_->established());
  EXPECT_FALSE(server_->error().empty());
  // Failed stays failed: nothing more is read, nothing can be sealed.
  EXPECT_EQ(Feed("more"), TlsChannel::Status::kFailed);
}

// RFC 7301: a client that offers only another protocol is refused, not
// answered in HTTP/1.1.
TEST_F(TlsChannelTest, AlpnWithoutHttp11Refused) {
  static constexpr unsigned char kH2[] = {2, 'h', '2'};
  MakeClient(kH2, sizeof kH2);
  EXPECT_FALSE(Handshake());
  EXPECT_TRUE(server_->failed());
}

TEST_F(TlsChannelTest, PeerCloseNotifyIsEndOfStream) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  SSL_shutdown(client_);
  EXPECT_EQ(Feed(TakeFromClient()), TlsChannel::Status::kClosed);
}

TEST_F(TlsChannelTest, CloseSendsCloseNotifyOnce) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  ClientReads();  // the session ticket
  server_->Close();
  const size_t alert = server_->output().size();
  EXPECT_GT(alert, 0u);
  server_->Close();
  EXPECT_EQ(server_->output().size(), alert);
  EXPECT_FALSE(server_->Seal("late"));
  GiveToClient();
  char byte;
  const int r = SSL_read(client_, &byte, 1);
  EXPECT_LE(r, 0);
  EXPECT_EQ(SSL_get_error(client_, r), SSL_ERROR_ZERO_RETURN);
}

// Before the handshake there is nothing to close: no alert is made.
TEST_F(TlsChannelTest, CloseBeforeHandshakeSendsNothing) {
  server_->Close();
  EXPECT_TRUE(server_->output().empty());
}

}  // namespace
}  // namespace notifyd::transport
