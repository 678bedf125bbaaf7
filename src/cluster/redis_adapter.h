// Drives a hiredis 0.14 async context from the daemon's event loop. hiredis
// ships no adapter for asio (HISTORY-CLUSTER.md section C), so this one
// installs hiredis's five event hooks (addRead, delRead, addWrite, delWrite,
// cleanup) over an asio::posix::stream_descriptor that waits for the
// context's socket to be ready and then calls redisAsyncHandleRead or
// redisAsyncHandleWrite.
//
// The socket belongs to hiredis: the cleanup hook releases it from asio and
// never closes it (hiredis does, just after). A wait still pending then
// completes with operation_aborted and touches nothing; the wait's own
// shared_ptr keeps the adapter's state alive until it has.
#pragma once

#include <functional>
#include <string>

#include <asio/io_context.hpp>

struct redisAsyncContext;

namespace notifyd::cluster {

/// Installs the hooks on `ac`, a new context whose connect callback is not
/// set yet: setting it arms the first write wait, so the hooks must be in
/// place before (pitfall 2). `on_cleanup` is called once, from inside hiredis,
/// when the context is being freed; it must neither use the context nor call
/// hiredis. False with *error when asio refuses the socket: nothing is
/// installed then, and the caller frees `ac`. The io_context must outlive the
/// context.
bool AttachToLoop(asio::io_context& io, redisAsyncContext* ac, std::function<void()> on_cleanup,
                  std::string* error);

}  // namespace notifyd::cluster
