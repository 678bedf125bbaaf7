-- wrk script: POST the notification notifyd-bench sends (a 100-byte body), keep-alive, Host without port.
--   wrk -t1 -c16 -d5s -s bench/wrk-publish.lua http://127.0.0.1:PORT/api/notify/pub0
--   wrk -t1 -c16 -d5s -s bench/wrk-publish.lua http://127.0.0.1:PORT/pub/pub0
wrk.method = "POST"
wrk.headers["Host"] = "127.0.0.1"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"t","body":"' .. string.rep("x", 100) .. '"}'

-- No response() callback: wrk would hand every response to Lua. Statuses of
-- 400 and above are counted by wrk itself ("status" below).
function done(summary, latency, requests)
  io.write(string.format("errors: connect %d read %d write %d status %d timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
