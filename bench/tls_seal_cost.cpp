// CPU per sealed record, SSL_write against notifyd's record sealer
// (src/transport/tls_record.h), on many live TlsChannels taken in turn as a
// fan-out takes its subscribers: each seal finds the connection's state
// out of the cache, as in the server. docs/BENCHMARKS.md, TLS section.
//
//   tls_seal_cost CERT.pem KEY.pem [CHANNELS [ROUNDS [BYTES]]]
//
// Every channel is made by a full handshake against an in-memory OpenSSL
// client (TLS 1.3, OpenSSL's default suite), which is then freed.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "transport/tls_channel.h"
#include "transport/tls_context.h"

using notifyd::transport::TlsChannel;

namespace {

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// A full handshake of `server` against a fresh client; false if it failed.
bool Handshake(SSL_CTX* client_ctx, TlsChannel& server) {
  SSL* client = SSL_new(client_ctx);
  BIO* to_server = BIO_new(BIO_s_mem());
  BIO* from_server = BIO_new(BIO_s_mem());
  SSL_set_bio(client, from_server, to_server);
  SSL_set_connect_state(client);
  std::vector<char> buffer(16384);
  bool done = false;
  for (int round = 0; round < 10 && !done; ++round) {
    int r = SSL_do_handshake(client);
    std::string bytes(static_cast<size_t>(BIO_pending(to_server)), '\0');
    if (!bytes.empty()) BIO_read(to_server, bytes.data(), static_cast<int>(bytes.size()));
    if (server.Receive(bytes, buffer, [](std::string_view) { return true; }) !=
        TlsChannel::Status::kOk) {
      break;
    }
    std::string& out = server.output();
    if (!out.empty()) BIO_write(from_server, out.data(), static_cast<int>(out.size()));
    out.clear();
    done = r == 1 && server.established();
  }
  SSL_free(client);
  return done;
}

double SealCost(SSL_CTX* server_ctx, SSL_CTX* client_ctx, bool take_over, size_t channels,
                int rounds, size_t bytes) {
  TlsChannel::Options options;
  options.take_over = take_over;
  options.kernel = false;
  std::vector<std::unique_ptr<TlsChannel>> all;
  for (size_t i = 0; i < channels; ++i) {
    all.push_back(std::make_unique<TlsChannel>(server_ctx, options));
    if (!Handshake(client_ctx, *all.back())) {
      std::fprintf(stderr, "handshake %zu failed\n", i);
      std::exit(1);
    }
  }
  const std::string text(bytes, 'n');
  const double start = CpuSeconds();
  for (int r = 0; r < rounds; ++r) {
    for (auto& channel : all) {
      channel->Seal(text);
      channel->output() = std::string();  // the connection moves it to its queue
    }
  }
  return (CpuSeconds() - start) / (static_cast<double>(channels) * rounds) * 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CERT.pem KEY.pem [CHANNELS [ROUNDS [BYTES]]]\n", argv[0]);
    return 2;
  }
  const size_t channels = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 4000;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 20;
  const size_t bytes = argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 200;
  notifyd::config::Config config;
  config.tls_certificate = argv[1];
  config.tls_key = argv[2];
  std::string error;
  auto context = notifyd::transport::TlsContext::Load(config, &error);
  if (!context) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, nullptr);
  const double by_openssl = SealCost(context->get(), client_ctx, false, channels, rounds, bytes);
  const double by_sealer = SealCost(context->get(), client_ctx, true, channels, rounds, bytes);
  std::printf("%zu channels x %d rounds, %zu-byte records: SSL_write %.0f ns, sealer %.0f ns "
              "per record (%.2fx)\n",
              channels, rounds, bytes, by_openssl, by_sealer, by_sealer / by_openssl);
  SSL_CTX_free(client_ctx);
  return 0;
}
