// Heap bytes OpenSSL keeps per server connection after a TLS handshake
// (docs/BENCHMARKS.md, "Idle TLS client"). The server context is set up as
// notifyd's (src/transport/tls_context.cpp); 500 handshakes run against
// in-memory clients, the clients and the handshake's BIOs are freed, and
// mallinfo2() says what the 500 servers still hold. Not part of the build:
//
//   g++ -O2 bench/tls_state_bytes.cpp -o /tmp/tls_state_bytes -lssl -lcrypto
//   /tmp/tls_state_bytes CERT.pem KEY.pem [--tickets N] [--free-buffers] [--tls12] [--keep]
//
// --keep leaves the servers allocated at exit, so that heaptrack's "leaked"
// list is the per-connection state by allocation site.
#include <malloc.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kConnections = 500;

size_t InUse() { return mallinfo2().uordblks; }

struct Options {
  int tickets = 1;
  bool free_buffers = false;
  bool tls12 = false;
  bool keep = false;
};

SSL_CTX* ServerContext(const char* cert, const char* key, const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (o.tls12) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, static_cast<size_t>(o.tickets));
  if (o.tickets == 0) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "cannot load %s / %s\n", cert, key);
    exit(2);
  }
  return ctx;
}

// A handshake over a BIO pair, one message each way, then the server's BIO
// swapped for a null one so that only the SSL's own state remains.
SSL* Connect(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const Options& o) {
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  BIO *server_bio, *client_bio;
  BIO_new_bio_pair(&server_bio, 0, &client_bio, 0);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  for (int round = 0; round < 10; ++round) {  // TLS 1.3 needs 2
    SSL_do_handshake(client);
    SSL_do_handshake(server);
  }
  char text[64];
  SSL_write(server, "hello", 5);
  SSL_read(client, text, sizeof text);  // takes the tickets too
  SSL_write(client, "hi", 2);
  SSL_read(server, text, sizeof text);
  if (!SSL_is_init_finished(server)) {
    fprintf(stderr, "the handshake did not finish\n");
    exit(1);
  }
  if (o.free_buffers) SSL_free_buffers(server);
  BIO* null_bio = BIO_new(BIO_s_null());
  SSL_set_bio(server, null_bio, null_bio);  // frees the pair's server half
  SSL_free(client);
  return server;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s CERT.pem KEY.pem [--tickets N] [--free-buffers] [--tls12] [--keep]\n",
            argv[0]);
    return 2;
  }
  Options o;
  for (int i = 3; i < argc; ++i) {
    if (strcmp(argv[i], "--tickets") == 0 && i + 1 < argc) {
      o.tickets = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--free-buffers") == 0) {
      o.free_buffers = true;
    } else if (strcmp(argv[i], "--tls12") == 0) {
      o.tls12 = true;
    } else if (strcmp(argv[i], "--keep") == 0) {
      o.keep = true;
    } else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  SSL_CTX* server_ctx = ServerContext(argv[1], argv[2], o);
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_mode(client_ctx, SSL_MODE_RELEASE_BUFFERS);
  // A few first, so that OpenSSL's one-time allocations (method tables,
  // providers' caches) are not counted.
  for (int i = 0; i < 5; ++i) SSL_free(Connect(server_ctx, client_ctx, o));
  std::vector<SSL*> servers;
  const size_t before = InUse();
  for (int i = 0; i < kConnections; ++i) servers.push_back(Connect(server_ctx, client_ctx, o));
  const size_t after = InUse();
  printf("%s, tickets %d%s: %.0f bytes in use per server connection\n",
         SSL_get_version(servers.back()), o.tickets, o.free_buffers ? ", SSL_free_buffers" : "",
         static_cast<double>(after - before) / kConnections);
  if (o.keep) return 0;
  for (SSL* s : servers) SSL_free(s);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
  return 0;
}
