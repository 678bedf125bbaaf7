// One accepted TCP connection: its socket, its send queue, its reads, and
// the deadline by which it is closed. What the bytes mean is decided by the
// Protocol running on it: first an HttpExchange, and after an upgrade a
// WebSocketSession. The Server owns every Connection through a shared_ptr;
// a pending socket wait holds one too, so a Connection outlives the handlers
// that complete after it was closed. Everything runs on the one io thread.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/ip/tcp.hpp>

namespace notifyd::transport {

class Server;
class TlsChannel;

/// Bytes to send, shared: a notification's frame is encoded once and queued
/// for every recipient.
using Bytes = std::shared_ptr<const std::string>;

/// A client address's entry in the per-address connection count; the
/// WebSocket session that holds one gives it back when it closes.
using AddressSlot = std::pair<const std::string, uint32_t>;

/// What runs on a connection and gives its bytes meaning.
class Protocol {
 public:
  virtual ~Protocol() = default;
  /// Bytes read from the peer. May queue bytes, close or upgrade the connection.
  virtual void OnData(std::string_view data) = 0;
  /// Everything queued has been sent; called only when wants_drained().
  virtual void OnDrained() {}
  /// False for a protocol with nothing to do in OnDrained, which the send
  /// path then skips (once per delivery for a WebSocket session).
  bool wants_drained() const { return wants_drained_; }
  /// The peer ended its side while bytes are still queued: true to send them
  /// before closing (an HTTP response), false to close at once.
  virtual bool FinishAfterEof() const { return false; }
  /// Called by the sweep timer (every 10..1000 ms) while the connection is open.
  virtual void OnSweep(int64_t now_ms) { (void)now_ms; }
  /// The connection has closed, from either side: release what it holds
  /// elsewhere (the hub's client record, a per-address slot). Called once.
  virtual void OnClosed() {}
  /// The server is stopping: end the connection gracefully.
  virtual void Shutdown() = 0;
  /// For log lines: "client <id>", "echo client", "http".
  virtual std::string Describe() const = 0;

 protected:
  explicit Protocol(bool wants_drained) : wants_drained_(wants_drained) {}

 private:
  const bool wants_drained_;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State {
    kOpen,       ///< Reading and writing.
    kLingering,  ///< Its last bytes are queued: they go out, then sending is shut
                 ///< down and input is read and dropped until EOF or the deadline.
    kClosed,     ///< The socket is closed; waits still pending find this and stop.
  };

  /// `tls` non-null: the connection speaks TLS, with `tls` as its layer.
  Connection(Server& server, asio::ip::tcp::socket socket, std::string peer,
             std::unique_ptr<TlsChannel> tls = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Starts reading; `protocol` gets the bytes.
  void Start(std::unique_ptr<Protocol> protocol);
  /// Replaces the protocol (an HTTP exchange by a WebSocket session) and hands
  /// it `rest`, bytes that arrived after the upgrade request. The old protocol
  /// is destroyed once the read that led here is done with it.
  void Upgrade(std::unique_ptr<Protocol> next, std::string_view rest);

  // --- the send queue ---------------------------------------------------------
  // Invariant: out_[head_..] are unsent, of which the first offset_ bytes of
  // out_[head_] are already sent; queued_ is the sum of the unsent bytes.
  // Every byte is sent once, in the order queued. With TLS, out_ holds
  // ciphertext, and what the protocol queues waits as plaintext in sealing_
  // until the next send seals it: frames not yet sealed can still be dropped,
  // and several frames queued between sends go out together. Once the kernel
  // seals (kernel TLS, switched on when out_ holds nothing unsent), out_
  // holds plaintext again, as on a plain connection.

  /// Appends `bytes` and makes sure they will be flushed.
  void Queue(Bytes bytes);
  /// Unsent bytes (with TLS: plaintext not sealed yet, and ciphertext).
  size_t queued() const { return queued_ + sealing_bytes_; }
  /// Forgets queued frames not yet started; a partly sent one stays, so the
  /// peer never sees half a frame.
  void DropUnstarted();
  /// Points up to `max` iovecs at the unsent bytes; returns how many. With
  /// TLS it first seals the plaintext waiting.
  size_t FillIov(iovec* iov, size_t max);
  /// Takes the result of a send of FillIov's buffers: advances the queue,
  /// waits for the socket to take more, or closes on an error.
  void SendDone(ssize_t result, int error);
  /// Sends what is queued now with one sendmsg (outside a batch).
  void Flush();

  // --- ending -------------------------------------------------------------------

  /// Queues `bytes` (may be empty) as the last thing sent; after them sending
  /// is shut down, so the peer reads everything and then EOF. The peer gets
  /// until the deadline to close (kLastWriteTimeoutMs, then kCloseTimeoutMs).
  void SendLast(std::string bytes);
  /// Closes the socket now; the protocol's OnClosed runs.
  void Destroy();

  // --- reading --------------------------------------------------------------------

  /// Stops reading (a client pipelining faster than it reads our responses).
  void PauseReading() { paused_ = true; }
  /// Reads again after PauseReading.
  void ResumeReading();
  bool reading_paused() const { return paused_; }

  /// The sweep ends the connection at this time; -1: no deadline.
  void set_deadline(int64_t ms) { deadline_ms_ = ms; }
  int64_t deadline() const { return deadline_ms_; }

  State state() const { return state_; }
  bool closed() const { return state_ == State::kClosed; }
  /// The client's address for log lines: the TCP peer ("127.0.0.1", "::1")
  /// until a WebSocket upgrade names the client behind a trusted proxy.
  const std::string& peer() const { return peer_; }
  void set_peer(std::string address) { peer_ = std::move(address); }
  Protocol* protocol() const { return protocol_.get(); }
  Server& server() const { return server_; }
  int fd() { return socket_.native_handle(); }
  /// The TLS layer; null on the plain port.
  const TlsChannel* tls() const { return tls_.get(); }

  // The server's flush list (Server::MarkDirty, Server::FlushAll).
  bool dirty = false;
  // Waiting for the socket to take more: the flush list skips it.
  bool write_waiting() const { return write_waiting_; }

 private:
  void WaitReadable();
  void WaitWritable();
  void OnReadable();
  void OnEof();
  void Advance(size_t n);
  void Drained();
  void ShutdownSending();
  /// Appends wire bytes (ciphertext with TLS) to the send queue.
  void QueueWire(Bytes bytes);
  /// Feeds what was read to the TLS layer, and its plaintext to the protocol.
  void ReceiveTls(std::string_view ciphertext);
  /// Seals the plaintext waiting (and close_notify when ending) and queues
  /// the records made since the last call.
  void Seal();
  /// Queues the ciphertext the TLS layer made (handshake, alerts, records).
  void TakeTlsOutput();
  /// TLS: the key has sealed as many records as it may; ends the connection
  /// after what is queued (a close_notify last).
  void EndAtRecordLimit();

  Server& server_;
  asio::ip::tcp::socket socket_;
  std::string peer_;
  State state_ = State::kOpen;
  std::unique_ptr<Protocol> protocol_;
  std::unique_ptr<Protocol> retired_;  ///< The protocol replaced by Upgrade.

  std::unique_ptr<TlsChannel> tls_;
  std::vector<Bytes> sealing_;  ///< TLS: plaintext queued since the last seal.
  size_t sealing_bytes_ = 0;
  bool tls_closing_ = false;    ///< TLS: end with close_notify.
  bool tls_kernel_ = false;     ///< TLS: the kernel seals; queued bytes are plaintext.

  std::vector<Bytes> out_;
  size_t head_ = 0;
  size_t offset_ = 0;
  size_t queued_ = 0;

  int64_t deadline_ms_ = -1;
  bool write_waiting_ = false;
  bool read_waiting_ = false;
  bool read_eof_ = false;
  bool paused_ = false;
  bool shutdown_after_write_ = false;
};

using ConnectionPtr = std::shared_ptr<Connection>;

}  // namespace notifyd::transport
