// The TLS layer of a connection driven without sockets: an OpenSSL client
// on memory BIOs talks to a TlsChannel made from the context [tls] loads
// (a certificate made here with OpenSSL's API, written to a temporary
// directory). The bytes in between are carried by the test, so a handshake
// in pieces, garbage and close_notify are exact.
#include "transport/tls_channel.h"

#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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
#include "transport/tls_record.h"

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

  /// Replaces the server's channel by one with `options`.
  void MakeServer(const TlsChannel::Options& options) {
    server_ = std::make_unique<TlsChannel>(context_->get(), options);
  }

  /// Makes the client offer only `version` and `suite` (a TLS 1.3 suite name
  /// or a TLS 1.2 cipher list entry).
  void ForceSuite(int version, const char* suite) {
    SSL_CTX_set_min_proto_version(client_ctx_, version);
    SSL_CTX_set_max_proto_version(client_ctx_, version);
    if (version == TLS1_3_VERSION) {
      ASSERT_EQ(SSL_CTX_set_ciphersuites(client_ctx_, suite), 1) << suite;
    } else {
      ASSERT_EQ(SSL_CTX_set_cipher_list(client_ctx_, suite), 1) << suite;
    }
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
    SSL_set_app_data(client_, this);
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

  /// What the client reads now, all of it; *last_error: SSL_get_error of
  /// the read that ended it (SSL_ERROR_WANT_READ: no more for now).
  std::string ClientReads(int* last_error = nullptr) {
    std::string text;
    char piece[4096];
    for (;;) {
      int n = SSL_read(client_, piece, sizeof piece);
      if (n <= 0) {
        if (last_error != nullptr) *last_error = SSL_get_error(client_, n);
        break;
      }
      text.append(piece, static_cast<size_t>(n));
    }
    return text;
  }

  /// The client's key log: the server's TLS 1.3 application secret, as the
  /// server's channel gets it.
  static void ClientKeyLog(const SSL* ssl, const char* line) {
    auto* self = static_cast<TlsChannelTest*>(SSL_get_app_data(ssl));
    static constexpr char kLabel[] = "SERVER_TRAFFIC_SECRET_0 ";
    if (std::strncmp(line, kLabel, sizeof kLabel - 1) != 0) return;
    const char* hex = std::strchr(line + sizeof kLabel - 1, ' ') + 1;
    self->server_secret_.clear();
    for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0'; i += 2) {
      self->server_secret_.push_back(
          static_cast<unsigned char>(OPENSSL_hexchar2int(static_cast<unsigned char>(hex[i])) << 4 |
                                     OPENSSL_hexchar2int(static_cast<unsigned char>(hex[i + 1]))));
    }
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
  std::vector<unsigned char> server_secret_;
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

// --- the sending direction after the handshake (tls_record.h) -----------------

struct Suite {
  const char* name;
  int version;
  const char* suite;
  bool sealed_here;  ///< False: stays with SSL_write.
};

std::string PrintSuite(const ::testing::TestParamInfo<Suite>& info) { return info.param.name; }

const Suite kSuites[] = {
    {"Tls13Aes128Gcm", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", true},
    {"Tls13Aes256Gcm", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", true},
    {"Tls13ChaCha20", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", true},
    {"Tls12Aes128Gcm", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", true},
    {"Tls12Aes256Gcm", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", true},
    {"Tls12ChaCha20", TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", true},
    {"Tls12Aes128Cbc", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256", false},
};
const Suite* const kSealedSuites = kSuites;  // all but the last
const size_t kSealedCount = std::size(kSuites) - 1;
const Suite* const kTls13Suites = kSuites;  // the first three
const size_t kTls13Count = 3;

// Sizes around the record size: an empty write, one byte, a notification,
// exactly one full record, one byte more, several records.
const size_t kSizes[] = {0, 1, 200, 16384, 16385, 40000};

std::string Text(size_t size, int round) {
  std::string text(size, '\0');
  for (size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 7 + round) % 26);
  return text;
}

class TlsSealingTest : public TlsChannelTest, public ::testing::WithParamInterface<Suite> {
 protected:
  void SetUp() override {
    TlsChannelTest::SetUp();
    ForceSuite(GetParam().version, GetParam().suite);
  }

  const char* expected_sealing() const {
    return GetParam().sealed_here ? "sealed=userspace" : "sealed=openssl";
  }
};

// Everything sealed after the handshake, in many records of every size,
// decrypts in order at an OpenSSL client, after what OpenSSL itself wrote
// under the same key (the TLS 1.3 session ticket, the TLS 1.2 Finished),
// and close_notify ends the stream.
TEST_P(TlsSealingTest, ClientReadsEverySizeThenCloseNotify) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  EXPECT_NE(server_->Describe().find(expected_sealing()), std::string::npos) << server_->Describe();
  EXPECT_EQ(server_->sealing() != TlsChannel::Sealing::kOpenSsl, GetParam().sealed_here);
  std::string sent;
  for (int round = 0; round < 3; ++round) {
    for (size_t size : kSizes) {
      const std::string text = Text(size, round);
      ASSERT_TRUE(server_->Seal(text)) << size;
      sent += text;
    }
  }
  // One request read in between: reading and sealing do not disturb each other.
  ASSERT_EQ(SSL_write(client_, "ping", 4), 4);
  EXPECT_EQ(Feed(TakeFromClient()), TlsChannel::Status::kOk);
  EXPECT_EQ(received_, "ping");
  ASSERT_TRUE(server_->Seal("after the read"));
  sent += "after the read";
  server_->Close();
  GiveToClient();
  int last_error = 0;
  EXPECT_EQ(ClientReads(&last_error), sent);
  EXPECT_EQ(last_error, SSL_ERROR_ZERO_RETURN);
}

// A differential check of the key derivation and the sealer against
// OpenSSL's own record layer: a channel left with SSL_write seals the
// plaintexts, and a TlsRecordSealer made from the same handshake's secrets
// (as the client sees them) must produce the same bytes: AES-GCM and
// ChaCha20-Poly1305 are deterministic for a given key, nonce and input.
// The suites sealed here, and TLS 1.3's (KeyUpdate).
class TlsSealedTest : public TlsSealingTest {};
class TlsKeyUpdateTest : public TlsSealingTest {};

TEST_P(TlsSealedTest, SameBytesAsSslWrite) {
  TlsChannel::Options options;
  options.take_over = false;
  MakeServer(options);
  SSL_CTX_set_keylog_callback(client_ctx_, ClientKeyLog);
  MakeClient();
  ASSERT_TRUE(Handshake());
  ASSERT_EQ(server_->sealing(), TlsChannel::Sealing::kOpenSsl);
  ClientReads();  // the ticket (TLS 1.3)
  std::string by_openssl;
  for (int round = 0; round < 2; ++round) {
    for (size_t size : kSizes) {
      ASSERT_TRUE(server_->Seal(Text(size, round)));
      by_openssl += server_->output();
      GiveToClient();
    }
  }
  ASSERT_GT(by_openssl.size(), 13u);
  // The first record under the server's final key is its ticket (TLS 1.3)
  // or its Finished (TLS 1.2): these records start at 1.
  TlsSendKeys keys;
  std::string why;
  ASSERT_TRUE(DeriveSendKeys(client_, server_secret_.data(), server_secret_.size(), 1, &keys, &why))
      << why;
  if (GetParam().version == TLS1_2_VERSION &&
      keys.cipher != TlsSendKeys::Cipher::kChaCha20Poly1305) {
    // RFC 5288 leaves the explicit nonce to the sender; OpenSSL counts
    // from a value of its own, the sealer from the sequence number.
    std::memcpy(keys.iv + 4, by_openssl.data() + 5, 8);
  }
  auto sealer = TlsRecordSealer::Make(keys, &why);
  ASSERT_NE(sealer, nullptr) << why;
  std::string by_sealer;
  for (int round = 0; round < 2; ++round) {
    for (size_t size : kSizes) {
      if (size == 0) continue;  // SSL_write makes no record of nothing
      ASSERT_TRUE(sealer->Seal(TlsRecordSealer::kApplicationData, Text(size, round), by_sealer));
    }
  }
  EXPECT_EQ(by_sealer.size(), by_openssl.size());
  EXPECT_TRUE(by_sealer == by_openssl) << "the sealed bytes differ";
  EXPECT_EQ(ClientReads().size(), 2 * (1 + 200 + 16384 + 16385 + 40000));
}

// A KeyUpdate with update_requested needs a new write key before the next
// record, which only OpenSSL could announce: the channel fails, and nothing
// OpenSSL made after the takeover reaches the output.
TEST_P(TlsKeyUpdateTest, RequestedEndsTheConnection) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  ASSERT_TRUE(server_->Seal("before"));
  GiveToClient();
  EXPECT_EQ(ClientReads(), "before");
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
  ASSERT_EQ(SSL_write(client_, "x", 1), 1);
  EXPECT_EQ(Feed(TakeFromClient()), TlsChannel::Status::kFailed);
  EXPECT_TRUE(server_->failed());
  EXPECT_FALSE(server_->error().empty());
  EXPECT_TRUE(server_->output().empty());
  EXPECT_FALSE(server_->Seal("after"));
  EXPECT_TRUE(server_->output().empty());
}

// A KeyUpdate without update_requested changes only the client's key:
// reading follows it, sealing goes on as before.
TEST_P(TlsKeyUpdateTest, NotRequestedKeepsGoing) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  ASSERT_EQ(SSL_write(client_, "new key", 7), 7);
  EXPECT_EQ(Feed(TakeFromClient()), TlsChannel::Status::kOk);
  EXPECT_EQ(received_, "new key");
  ASSERT_TRUE(server_->Seal("still the old one"));
  GiveToClient();
  EXPECT_EQ(ClientReads(), "still the old one");
}

// A broken record makes OpenSSL write an alert, which after the takeover
// cannot be numbered: dropped, and the channel fails.
TEST_P(TlsSealedTest, AlertAfterTakeoverIsDropped) {
  MakeClient();
  ASSERT_TRUE(Handshake());
  GiveToClient();
  ASSERT_EQ(SSL_write(client_, "hello", 5), 5);
  std::string record = TakeFromClient();
  record[record.size() - 1] ^= 1;  // the tag no longer matches
  EXPECT_EQ(Feed(record), TlsChannel::Status::kFailed);
  EXPECT_TRUE(server_->output().empty());
  EXPECT_TRUE(received_.empty());
}

// Before a key seals record_limit records the channel seals close_notify
// and closes: the client reads everything, then the end of the stream.
TEST_P(TlsSealedTest, RecordLimitClosesCleanly) {
  TlsChannel::Options options;
  options.record_limit = 6;  // record 1 is the first sealed here
  MakeServer(options);
  MakeClient();
  ASSERT_TRUE(Handshake());
  std::string sent;
  int sealed = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string text = "n" + std::to_string(i);
    if (!server_->Seal(text)) break;
    sent += text;
    ++sealed;
  }
  EXPECT_EQ(sealed, 4);  // records 1..4; record 5 is the close_notify
  EXPECT_TRUE(server_->closed());
  EXPECT_FALSE(server_->failed());
  GiveToClient();
  int last_error = 0;
  EXPECT_EQ(ClientReads(&last_error), sent);
  EXPECT_EQ(last_error, SSL_ERROR_ZERO_RETURN);
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsSealingTest, ::testing::ValuesIn(kSuites), PrintSuite);
INSTANTIATE_TEST_SUITE_P(Suites, TlsSealedTest,
                         ::testing::ValuesIn(kSealedSuites, kSealedSuites + kSealedCount),
                         PrintSuite);
INSTANTIATE_TEST_SUITE_P(Suites, TlsKeyUpdateTest,
                         ::testing::ValuesIn(kTls13Suites, kTls13Suites + kTls13Count), PrintSuite);

// A plaintext larger than the records left is refused whole (a frame is
// never cut), and what fits still goes.
TEST_F(TlsChannelTest, RecordLimitRefusesWhatDoesNotFit) {
  TlsChannel::Options options;
  options.record_limit = 3;
  MakeServer(options);
  MakeClient();
  ASSERT_TRUE(Handshake());
  EXPECT_FALSE(server_->Seal(std::string(16385, 'x')));  // needs records 1 and 2
  EXPECT_TRUE(server_->closed());
  GiveToClient();
  int last_error = 0;
  EXPECT_EQ(ClientReads(&last_error), "");
  EXPECT_EQ(last_error, SSL_ERROR_ZERO_RETURN);
}

// This machine's kernel has no "tls" upper layer protocol: the check says
// so with the reason, and connections seal in userspace. (On a kernel that
// offers it, the check must agree with the list of loaded ULPs.)
TEST_F(TlsChannelTest, KernelTlsCheckAgreesWithTheKernel) {
  std::string reason;
  const bool offered = KernelTlsOffered(&reason);
  std::ifstream file("/proc/sys/net/ipv4/tcp_available_ulp");
  const std::string ulps((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file.is_open()) GTEST_SKIP() << "no /proc/sys/net/ipv4/tcp_available_ulp";
  if (offered) {
    EXPECT_NE(ulps.find("tls"), std::string::npos) << ulps;
    return;
  }
  EXPECT_FALSE(reason.empty());
  MakeClient();
  ASSERT_TRUE(Handshake());
  EXPECT_FALSE(server_->kernel_wanted());
  EXPECT_EQ(server_->sealing(), TlsChannel::Sealing::kUserspace);
  EXPECT_NE(server_->Describe().find("sealed=userspace"), std::string::npos);
}

}  // namespace
}  // namespace notifyd::transport
