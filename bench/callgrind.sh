#!/bin/bash
# Instructions per delivery, exactly (docs/BENCHMARKS.md): runs the server under
# valgrind --tool=callgrind, connects SUBS subscribers to one channel, zeroes the
# counters, publishes PUBLISHES notifications back-to-back, dumps the counters
# and divides the instructions by the deliveries (SUBS x PUBLISHES, each checked
# as received). Machine noise does not change the figure: compare it between
# commits. Also prints the top functions by inclusive cost.
# --scenario publish: instructions per HTTP publish instead, with 16 keep-alive
# publishers (as wrk -t1 -c16) for SECONDS and no subscriber.
# notifyd's [history]: --history-size N (default: notifyd's own default, 100),
# --history-store memory|sqlite (the SQLite file in OUT), --history-sync
# commit|batch.
#
#   bench/callgrind.sh [--build DIR] [--subs 1000] [--publishes 100]
#                      [--target notifyd|nchan] [--out DIR] [--port 18700]
#                      [--scenario fanout|publish] [--seconds 5]
#                      [--history-size N] [--history-store S] [--history-sync M]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build"
subs=1000
publishes=100
target=notifyd
out=""
port=18700
scenario=fanout
seconds=5
history=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --subs) subs=$2; shift 2 ;;
    --publishes) publishes=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --scenario) scenario=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --history-size) history+=("size = $2"); shift 2 ;;
    --history-store) history+=("store = \"$2\""); shift 2 ;;
    --history-sync) history+=("sync = \"$2\""); shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bench="$build/bench/notifyd-bench"
for f in "$bench" /usr/bin/valgrind /usr/bin/callgrind_control /usr/bin/callgrind_annotate; do
  [ -x "$f" ] || { echo "callgrind.sh: missing $f" >&2; exit 2; }
done
[ -n "$out" ] || out=$(mktemp -d /tmp/notifyd-callgrind.XXXXXX)
mkdir -p "$out/tmp"
rm -f "$out"/callgrind.out* "$out"/history.db*

if [ "$target" = notifyd ]; then
  cat > "$out/notifyd.toml" <<EOF
[server]
listen = "127.0.0.1"
port = $port
echo = false
[heartbeat]
interval = 30
timeout = 60
[limits]
max_connections = 100000
connection_rate = 0
publish_rate = 0
max_queued_bytes_per_client = 67108864
[log]
level = "warn"
EOF
  if [ ${#history[@]} -gt 0 ]; then
    { echo "[history]"; printf '%s\n' "${history[@]}"; echo "path = \"$out/history.db\""; } \
      >> "$out/notifyd.toml"
  fi
  cmd=("$build/notifyd" --config "$out/notifyd.toml")
else
  # One nginx process (no master), so callgrind sees all of Nchan's work.
  cat > "$out/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process off;
pid $out/nginx.pid;
error_log $out/error.log warn;
events { worker_connections 40000; }
http {
  access_log off;
  client_body_temp_path $out/tmp/body;
  proxy_temp_path $out/tmp/proxy;
  fastcgi_temp_path $out/tmp/fastcgi;
  uwsgi_temp_path $out/tmp/uwsgi;
  scgi_temp_path $out/tmp/scgi;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location ~ ^/sub/([\w.:@-]+)\$ { nchan_subscriber websocket; nchan_channel_id \$1;
                                     nchan_subscriber_first_message newest; }
    location ~ ^/pub/([\w.:@-]+)\$ { nchan_publisher; nchan_channel_id \$1; nchan_store_messages off; }
  }
}
EOF
  cmd=(/usr/sbin/nginx -p "$out" -c "$out/nginx.conf")
fi

valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "${cmd[@]}" \
  > "$out/server.log" 2>&1 &
vpid=$!
cleanup() { kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; }
trap cleanup EXIT
# Wait for the port (valgrind starts slowly; bounded: 120 s).
up=0
for _ in $(seq 1 1200); do
  kill -0 "$vpid" 2>/dev/null || break
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "callgrind.sh: the server did not come up; see $out/server.log" >&2
  tail -20 "$out/server.log" >&2
  exit 1
fi

hooks=(--hook-before "callgrind_control -z $vpid >/dev/null 2>&1"
       --hook-after "callgrind_control -d $vpid >/dev/null 2>&1")
if [ "$scenario" = publish ]; then
  "$bench" --target "$target" --port "$port" --pid "$vpid" publish --subs 0 --keepalive \
    --concurrency 16 --duration "$seconds" "${hooks[@]}" > "$out/bench.json"
else
  "$bench" --target "$target" --port "$port" --pid "$vpid" fanout --subs "$subs" --saturate \
    --publishes "$publishes" --workers 2 "${hooks[@]}" > "$out/bench.json"
fi
cleanup
trap - EXIT

dump=$(ls -t "$out"/callgrind.out.* 2>/dev/null | grep -v '\.0$' | head -1 || true)
[ -n "$dump" ] || dump=$(ls -t "$out"/callgrind.out* | head -1)
if [ "$scenario" = publish ]; then
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$dump" | head -1)
  ok=$(sed -n 's/.*"publish_ok":\([0-9.e+]*\).*/\1/p' "$out/bench.json")
  python3 -c "import sys; ir, ok = float(sys.argv[1]), float(sys.argv[2]); print(f'{sys.argv[3]}: {ir:,.0f} instructions for {ok:,.0f} keep-alive publishes = {ir / max(ok, 1):,.0f} instructions per publish')" "$ir" "$ok" "$target"
  echo "dump: $dump"
  "$here/callgrind_calls.py" "$dump" "$ok" malloc free recv sendmsg writev epoll_ctl epoll_wait \
    | sed 's/per delivery/per publish/'
  exit 0
fi
received=$(sed -n 's/.*"received":\([0-9.e+]*\).*/\1/p' "$out/bench.json")
ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$dump" | head -1)
python3 - "$ir" "$received" "$subs" "$publishes" "$target" <<'EOF'
import sys
ir, rec, subs, pubs, target = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
exp = subs * pubs
print(f"{target}: {ir:,.0f} instructions for {rec:,.0f} deliveries ({subs} x {pubs}, expected {exp:,})"
      f" = {ir / max(rec, 1):,.0f} instructions per delivery")
if rec != exp:
    print("WARNING: not every notification was received", file=sys.stderr)
EOF
echo "dump: $dump"
callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$dump" 2>/dev/null |
  grep -E '^ *[0-9,]+ ' | head -60 > "$out/top-inclusive.txt" || true
callgrind_annotate --threshold=100 --auto=no "$dump" 2>/dev/null |
  grep -E '^ *[0-9,]+ ' | head -60 > "$out/top-self.txt" || true
"$here/callgrind_calls.py" "$dump" "$received" > "$out/calls.txt" 2>/dev/null || true
cat "$out/calls.txt"
echo "top functions (inclusive): $out/top-inclusive.txt, (self): $out/top-self.txt"
