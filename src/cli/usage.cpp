#include "cli/usage.h"

#include <iostream>

#include "cli/command_line.h"

namespace notifyd::cli {
namespace {

constexpr std::string_view kUsage = R"USAGE(Usage:
  notifyd-cli                  interactive client (the seed's client simulator)
  notifyd-cli publish CHANNEL [--title T] [--data JSON] [--idempotency-key K]
                              [--url URL] [--token TOKEN] [--spool DIR | --no-spool]
                              [BODY | -]
  notifyd-cli sub CHANNEL... [--since E:N] [--url URL] [--token TOKEN]
  notifyd-cli tail CHANNEL [--since E:N] [--url URL] [--token TOKEN]
  notifyd-cli history CHANNEL [--since E:N|all] [--limit L] [--url URL] [--token TOKEN]
  notifyd-cli run [--channel C] [--title T] [--always] [--checkin NAME [--every S]
                  [--grace S]] [--url URL] [--token TOKEN] [--spool DIR | --no-spool]
                  [--] COMMAND [ARG...]
  notifyd-cli flush [--url URL] [--token TOKEN] [--spool DIR]
  notifyd-cli --help | --version

Interactive mode connects to $WS_URL (default ws://localhost:8080/ws) and reads
commands from stdin, one per line: sub <channel>, unsub <channel>, name <name>,
list, ping, help, quit (or exit). It prints every server message and answers
the server's heartbeat by itself. At EOF on stdin it waits up to 2 s for the
replies to commands already sent, then closes the connection.

publish sends POST /api/notify/CHANNEL with the JSON body {"title","body","data"}:
  --title T      the title (when omitted the server uses "Notification")
  --data JSON    extra data for the subscribers; must be a JSON object
  --idempotency-key K
                 the Idempotency-Key header (1-128 printable ASCII characters).
                 Default: 32 random hex digits, new for every invocation. The
                 server answers a repeat of a key on the same channel within
                 300 s with its first answer and delivers nothing twice.
  BODY           the body text. "-", or no BODY while stdin is not a terminal,
                 reads it from stdin and drops its trailing line breaks.
  Each attempt (resolve, connect, send, read the answer) is bounded to 10 s.
  When connecting fails, the connection is lost, an attempt times out or the
  server answers 502, 503 or 504, publish tries again, 0.5 s and then 1 s
  later, at most 3 attempts, always with the same key, so a retry never
  delivers twice. On success the server's JSON answer (with the
  notification's "seq" and "epoch") is printed on stdout. When the server
  cannot be reached or answers 5xx, 408 or 429 after the last attempt, the
  notification is kept in the spool (below), publish says where on stderr
  and exits 75; do not publish it again: it will be delivered.

sub follows channels over WebSocket and prints each notification as one line,
"[CHANNEL #SEQ] TIMESTAMP TITLE: BODY DATA"; tail follows one channel and
prints each notification as one line of compact JSON, the object as the
server sent it (for scripts and jq). Both run until SIGINT or SIGTERM. They
remember the last position (epoch and seq) seen per channel; when the
connection is lost they reconnect (waiting up to 0.5 s, then up to twice as
long after each failed attempt, at most 10 s; each attempt bounded to 10 s)
and resume from it, so nothing is missed or printed twice while the server
still keeps what was missed. Status lines go
to stderr: "resumed CHANNEL: recovered N missed notifications", or
"CHANNEL: cannot resume from E:N (REASON); reloading is up to you".
  --since E:N    start after seq N of epoch E (the "id" of the last
                 notification seen), replaying what came since; only with one
                 CHANNEL

history prints what the server keeps of a channel (GET
/api/channels/CHANNEL/messages), oldest first, one JSON line per notification,
the object as the server sent it; it pages through everything kept.
  --since E:N    only what came after seq N of epoch E; "all" (the default)
                 starts at the oldest kept. When the history does not reach
                 back to E:N, what is kept is printed and stderr says so.
  --limit L      print at most L notifications (L >= 1)
  Each request is bounded and retried as for publish.

run runs COMMAND (a cron job) with its stdin and environment, passing its
stdout and stderr on as they come (so cron still mails them) while keeping
their last 20 lines (each cut at 512 bytes). SIGINT, SIGTERM, SIGHUP and
SIGQUIT sent to notifyd-cli are passed on to COMMAND. When COMMAND fails, or
always with --always, run publishes to C (default "cron") the title
"NAME failed (exit N)", "NAME failed (killed by SIGTERM)", "NAME could not be
started (exit 127)" or "NAME succeeded", with NAME the last part of COMMAND
or T (--title); the body is the last lines of the output; data is
{"command","exit","duration_s","host","output_lines"} (and "signal"). What
cannot be published now is spooled. The first word not an option is
COMMAND: run's options come before it.
  --checkin NAME on success, POST /api/checkin/NAME (a dead-man's switch:
                 the server tells when NAME is late); --every S and --grace S
                 set the period and the slack in seconds (the server keeps
                 them). A check-in that fails is reported, not spooled.
  Exit status: COMMAND's; 128+N when signal N killed it; 127 when it was not
  found, 126 when it could not be run; 2 for a usage error (COMMAND not run).

The spool keeps notifications until the server takes them, one file each,
in --spool DIR, else $NOTIFYD_SPOOL, else /var/spool/notifyd for root, else
$XDG_STATE_HOME/notifyd (~/.local/state/notifyd). Each keeps its
Idempotency-Key. Every publish or run that reaches a server delivers what
waits for that server, oldest first, after its own notification; so does
flush, which waits for any flush already running (flushes take turns, so none
is delivered twice). A notification the server refuses for good (another 4xx
than 401, 403, 404, 408, 429) is moved to DIR/failed/ with the reason, a file
that cannot be read as one to DIR/corrupt/; both are reported on stderr.
Notifications meant for another server (another URL) wait for a flush with
that --url. flush exits 0 when nothing is left and nothing was set aside,
1 otherwise. --no-spool: publish and run keep nothing (publish exits 1).

Every command but the interactive one:
  --url URL      the server's base URL. Default: $NOTIFYD_URL, else derived from
                 $WS_URL (ws://host:port/... -> http://host:port), else
                 http://localhost:8080. sub and tail connect to URL/ws, or to
                 $WS_URL as it is when neither --url nor $NOTIFYD_URL is set.
  --token TOKEN  send "Authorization: Bearer TOKEN" (default: $NOTIFYD_TOKEN;
                 prefer the variable, other users can see a command line)
  Options take "--opt VALUE" or "--opt=VALUE"; "--" ends the options.

Exit status: 0 success (for sub and tail: stopped by SIGINT or SIGTERM); 1
connecting failed, timed out, or the server refused the request (the reason
goes to stderr); 2 usage error; 75 (publish) kept in the spool. run exits
with its command's status (above).

https:// URLs work for publish, history, run and flush, and wss:// (or an
https:// --url) for sub, tail and the interactive client: the certificate is
verified against the system's CA store (/etc/ssl/certs), or against the CA
certificates in FILE with --ca FILE (anywhere on the command line).
)USAGE";

}  // namespace

std::string_view UsageText() { return kUsage; }

std::optional<int> ReadCommandLine(const std::vector<std::string>& args,
                                   const CommandSyntax& syntax, CommandLine* line) {
  std::string error;
  if (!ParseCommandLine(args, syntax, line, &error)) return UsageFailure(error);
  if (!line->help) return std::nullopt;
  std::cout << kUsage << std::flush;
  return kExitOk;
}

std::optional<int> ReadCommandLine(const std::vector<std::string>& args,
                                   const std::vector<std::string_view>& options,
                                   CommandLine* line) {
  return ReadCommandLine(args, CommandSyntax{options}, line);
}

int UsageFailure(const std::string& message) {
  std::cerr << "notifyd-cli: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

int Failure(const std::string& message, int code) {
  Note(message);
  return code;
}

void Note(const std::string& message) { std::cerr << "notifyd-cli: " << message << '\n'; }

}  // namespace notifyd::cli
