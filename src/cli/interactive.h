// notifyd-cli without arguments: the seed's interactive client simulator
// (bin/client.dart, "Aufgabe 8"). It connects to $WS_URL, reads commands from
// stdin and prints every server message as the seed does, line by line.
#pragma once

namespace notifyd::cli {

/// Runs the interactive client until quit, EOF on stdin, or the server closes.
/// Returns the exit code: 0 after a close, 1 when connecting fails.
int RunInteractive();

}  // namespace notifyd::cli
