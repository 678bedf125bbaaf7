#!/usr/bin/python3
"""Differential test: notifyd's HTTP/1.1 request reading against python3-h11.

Usage: differential_http.py PATH/TO/http_verdict [--verbose]

The same request bytes go to notifyd's HttpHeadParser and ChunkedDecoder
(through the http_verdict driver, one process for every case) and to h11, an
independent parser. Each side yields the events a keep-alive connection would
see: the requests read whole (method, path, query, host, version, headers,
body, keep-alive, Expect: 100-continue), then an error status or "incomplete"
if reading stopped early. Any difference fails the test unless a rule in
ALLOWED_DIFFERENCES explains it: each rule is a deliberate policy with its
reason, and it only explains a difference of the kind it names (checked on the
bytes or h11's view of them, not taken on trust from notifyd's error text).

The cases are the hand-written ones in CASES (request line, header syntax,
Content-Length and Transfer-Encoding framing, chunked bodies, Host, versions,
Expect, obs-fold, whitespace, pipelining) and a fixed-seed set of mutations of
the valid ones. Exits 0 when every case agrees, 1 otherwise, 77 when h11 is
not installed (CTest reports that as skipped).
"""

import json
import random
import re
import subprocess
import sys

try:
    import h11
except ImportError:
    print("SKIP: python3-h11 is not installed (Debian: apt-get install python3-h11)")
    sys.exit(77)

MAX_HEAD_BYTES = 8192        # HttpLimits::max_head_bytes
MAX_TARGET_BYTES = 8000      # HttpLimits::max_target_bytes
MAX_BODY_BYTES = 1 << 20     # http_verdict's ChunkedDecoder limit
MUTATION_SEED = 9110
MUTATION_COUNT = 600

# --- h11's view -----------------------------------------------------------------

# RFC 3986 §3.2.2 host (IP-literal or reg-name, which covers IPv4) and port,
# as RFC 9110 §7.2 uses them for Host.
HOST_RE = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?")
ABSOLUTE_RE = re.compile(r"(?i)https?://([^/?]*)(.*)")


def split_target(method, target):
    """(path, query, authority) of a request-target as RFC 9112 §3.2 reads
    it, or None for a form the server does not take."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query, None
    if target == "*" and method == "OPTIONS":
        return "*", "", None
    match = ABSOLUTE_RE.fullmatch(target)
    if match and match.group(1) and not match.group(1).startswith(":") \
            and HOST_RE.fullmatch(match.group(1)):
        path, _, query = match.group(2).partition("?")
        return path or "/", query, match.group(1)
    return None


def combine(raw_headers):
    """Field lines with the same name as one entry (RFC 9110 §5.3)."""
    combined = {}
    order = []
    for name, value in raw_headers:
        key = name.decode("latin-1").lower()
        value = value.decode("latin-1")
        if key in combined:
            combined[key] += ", " + value
        else:
            combined[key] = value
            order.append(key)
    return [[key, combined[key]] for key in order]


def request_event(conn, request):
    method = request.method.decode("latin-1")
    target = request.target.decode("latin-1")
    headers = combine(request.headers.raw_items())
    split = split_target(method, target) or (None, None, None)
    host = split[2] if split[2] is not None else dict(headers).get("host", "")
    version = {b"1.1": 1, b"1.0": 0}.get(request.http_version,
                                         request.http_version.decode("latin-1"))
    if isinstance(version, str) and version.startswith("1."):
        version = 1  # RFC 9110 §2.5: a higher 1.x minor is processed as 1.1, by both

    return {"method": method, "path": split[0], "query": split[1], "host": host,
            "version": version, "headers": headers,
            "expect_continue": conn.they_are_waiting_for_100_continue,
            "_target": target}


def h11_events(data):
    """The events h11 reads from `data`, fed one byte at a time as from a
    slow socket (so that its head limit applies as a server's would, and
    each request's "_end" is the offset just past it), answering each
    request with a 404 (which also declines any protocol switch)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    events, current, body, fed = [], None, bytearray(), 0
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA and fed < len(data):
                conn.receive_data(data[fed:fed + 1])
                fed += 1
            elif isinstance(event, h11.Request):
                current, body = request_event(conn, event), bytearray()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                conn.send(h11.Response(status_code=404, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                current.update(body=bytes(body).decode("latin-1"), _end=fed,
                               keep_alive=conn.our_state is h11.DONE and
                               conn.their_state is h11.DONE)
                events.append(current)
                current = None
                if not events[-1]["keep_alive"]:
                    break
                conn.start_next_cycle()
            else:  # out of bytes, mid-request or not
                if current is not None or conn.their_state is not h11.IDLE or \
                        conn.trailing_data[0]:
                    events.append({"incomplete": True})
                break
    except h11.RemoteProtocolError as e:
        events.append({"error": e.error_status_hint, "reason": str(e)})
    return events


# --- notifyd's view ---------------------------------------------------------------

def notifyd_events(driver, cases):
    stdin = b"".join(b"%d\n%s" % (len(data), data) for _, data in cases)
    out = subprocess.run([driver], input=stdin, stdout=subprocess.PIPE, check=True,
                         timeout=120).stdout.decode("utf-8").splitlines()
    assert len(out) == len(cases), "the driver answered %d of %d cases" % (len(out), len(cases))
    events = [json.loads(line) for line in out]
    for case_events in events:
        for e in case_events:
            if "headers" in e:
                e["headers"] = [[n.lower(), v] for n, v in e["headers"]]
    return events


# --- comparing --------------------------------------------------------------------

def comparable(events):
    """Events as compared: no private keys, no reason texts, list-valued
    Transfer-Encoding in lower case (h11 lowercases it)."""
    out = []
    for e in events:
        e = {k: v for k, v in e.items() if not k.startswith("_") and k != "reason"}
        if "headers" in e:
            e["headers"] = [[n, v.lower() if n == "transfer-encoding" else v]
                            for n, v in e["headers"]]
        out.append(e)
    return out


def first_difference(ours, theirs):
    a, b = comparable(ours), comparable(theirs)
    for i in range(max(len(a), len(b))):
        if i >= len(a) or i >= len(b) or a[i] != b[i]:
            return i
    return None


def header(event, name):
    return dict(event.get("headers", [])).get(name)


def field_values(data, name):
    """Values of the field lines named `name` in the raw bytes (any case)."""
    pattern = rb"(?im)^" + re.escape(name) + rb":[ \t]*(.*?)[ \t]*\r?$"
    return [v.decode("latin-1") for v in re.findall(pattern, data)]


class Rule:
    """A deliberate difference. `patch(data, ours, theirs, i)`, given the
    first differing event i, returns h11's events as notifyd's policy makes
    them, or None when the rule does not apply."""

    def __init__(self, name, reason, patch):
        self.name, self.reason, self.patch = name, reason, patch


def refusal(our_reason, applies):
    """A rule for a request notifyd refuses (with `our_reason`, a prefix of
    its error text) where h11 reads on: it applies when `applies(data, their
    event at i)` confirms the refusal's cause."""
    def patch(data, ours, theirs, i):
        if i >= len(ours) or not ours[i].get("reason", "").startswith(our_reason):
            return None
        if not applies(data, theirs[i] if i < len(theirs) else {}):
            return None
        return theirs[:i] + [ours[i]]
    return patch


def acceptance(applies):
    """A rule for bytes notifyd reads where h11 stops: notifyd's events from i
    on stand when `applies(data, our event at i, their event at i)`."""
    def patch(data, ours, theirs, i):
        if i >= len(ours) or "error" in ours[i] or not applies(data, ours[i], theirs[i:i + 1]):
            return None
        return theirs[:i] + ours[i:]
    return patch


def rerun_if(condition, rewrite):
    """A rule for bytes h11 reads only once rewritten: h11's events on the
    rewritten bytes stand when `condition(data, ours)` holds."""
    def patch(data, ours, theirs, i):
        if not condition(data, ours):
            return None
        again = rewrite(data)
        return h11_events(again) if again != data else None
    return patch


def keep_alive_10(data, ours, theirs, i):
    if i >= len(ours) or i >= len(theirs) or "headers" not in ours[i]:
        return None
    if ours[i]["version"] != 0 or not ours[i]["keep_alive"] or theirs[i].get("keep_alive", True):
        return None
    patched = dict(theirs[i], keep_alive=True)
    return theirs[:i] + [patched] + ours[i + 1:]


def drop_upgrade_10(data, ours, theirs, i):
    patched, changed = [], False
    for e in theirs:
        if e.get("version") == 0 and header(e, "upgrade") is not None:
            e = dict(e, headers=[h for h in e["headers"] if h[0] != "upgrade"])
            changed = True
        patched.append(e)
    return patched if changed else None


def skip_empty_lines(data, ours, theirs, i):
    if i >= len(theirs) or theirs[i].get("reason") not in ("no request line received",
                                                          "illegal request line"):
        return None
    rest = data[theirs[i - 1]["_end"] if i else 0:]
    empty = re.match(rb"(\r?\n)+", rest)
    if not empty:
        return None
    # Nothing but empty lines: notifyd is still waiting for a request line.
    after = rest[empty.end():]
    return theirs[:i] + (h11_events(after) if after else [{"incomplete": True}])


def has_chunked_request(ours):
    return any(header(e, "transfer-encoding") for e in ours)


def chunked_has_bare_lf(data, ours):
    return has_chunked_request(ours) and re.search(rb"(?<!\r)\n", data)


def te_is_chunked_with_empty_elements(data, ours_event, theirs_events):
    values = field_values(data, b"transfer-encoding")
    elements = [x.strip(" \t") for v in values for x in v.split(",")]
    return "" in elements and [x for x in elements if x] == ["chunked"]


def bad_host(data, e):
    host = header(e, "host")
    return host is not None and not HOST_RE.fullmatch(host)


def bad_target(data, e):
    return "_target" in e and split_target(e["method"], e["_target"]) is None


ALLOWED_DIFFERENCES = [
    Rule("http/1.0 keep-alive",
         "RFC 9112 §9.3 lets an HTTP/1.0 request keep the connection with 'Connection: "
         "keep-alive'; notifyd honours it, h11 closes every HTTP/1.0 connection.",
         keep_alive_10),
    Rule("http/1.0 upgrade ignored",
         "RFC 9110 §7.8: a server must ignore Upgrade received in an HTTP/1.0 request; "
         "notifyd drops the field, h11 passes it on.",
         drop_upgrade_10),
    Rule("empty lines before the request line",
         "RFC 9112 §2.2: a server should ignore at least one empty line before the "
         "request line (a client may send CRLF after a body); notifyd does, h11 rejects it.",
         skip_empty_lines),
    Rule("bare LF in chunked framing",
         "RFC 9112 §2.2 lets a recipient take a bare LF as a line terminator; notifyd does "
         "so in chunk-size lines, after chunk data and in trailers as in the head, h11 "
         "only in the head.",
         rerun_if(chunked_has_bare_lf, lambda data: re.sub(rb"(?<!\r)\n", b"\r\n", data))),
    Rule("whitespace before a chunk extension",
         "RFC 9112 §7.1.1 allows BWS before the ';' of a chunk extension; h11 does not.",
         rerun_if(lambda data, ours: has_chunked_request(ours) and re.search(rb"\n[0-9A-Fa-f]+[ \t]+;", data),
                  lambda data: re.sub(rb"(\n[0-9A-Fa-f]+)[ \t]+;", rb"\1;", data))),
    Rule("control characters in field values",
         "RFC 9110 §5.5: a field value is visible characters, SP, HTAB and obs-text; notifyd "
         "refuses other controls (ESC, DEL, ...), h11 only NUL, CR and LF.",
         refusal("Invalid header field value",
                 lambda data, e: re.search(rb"\n[^\r\n:]*:[^\n]*[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]",
                                           data))),
    Rule("obs-fold refused",
         "RFC 9112 §5.2 lets a server reject obs-fold with 400 instead of unfolding it; "
         "notifyd does, so that no two readers of the same bytes disagree on the fields.",
         refusal("Obsolete line folding", lambda data, e: re.search(rb"\n[ \t]", data))),
    Rule("invalid Host value",
         "RFC 9112 §3.2: a Host with an invalid value gets 400; h11 only counts Host lines.",
         refusal("Invalid Host header", bad_host)),
    Rule("request-target forms",
         "RFC 9112 §3.2: origin-form, absolute-form (http/https, valid authority), "
         "asterisk-form for OPTIONS only; CONNECT's authority-form is refused with 501. h11 "
         "takes any visible text as the target and leaves that to the application.",
         refusal("Invalid request target", lambda data, e: bad_target(data, e))),
    Rule("CONNECT refused",
         "notifyd is not a proxy and has no tunnel to open: 501 (RFC 9110 §9.3.6); h11 "
         "reads CONNECT as a protocol switch proposal.",
         refusal("CONNECT is not supported", lambda data, e: e.get("method") == "CONNECT")),
    Rule("other expectation",
         "RFC 9110 §10.1.1 lets a server answer 417 to an expectation other than "
         "100-continue; h11 ignores unknown expectations.",
         refusal("Expectation failed",
                 lambda data, e: e.get("version") == 1 and header(e, "expect") is not None
                 and header(e, "expect").lower() != "100-continue")),
    Rule("HTTP version",
         "notifyd speaks HTTP/1.x only (1.2 and later minors as 1.1): 505 for any other "
         "major version (RFC 9110 §15.6.6); h11 accepts any HTTP/d.d.",
         refusal("HTTP version not supported", lambda data, e: e.get("version") not in (0, 1))),
    Rule("URI too long",
         "a target over %d bytes gets 414 (RFC 9110 §15.5.15); h11 has no target limit, "
         "only a head limit (431)." % MAX_TARGET_BYTES,
         refusal("URI too long", lambda data, e: len(e.get("_target", "")) > MAX_TARGET_BYTES
                 or e.get("error") == 431)),
    Rule("Transfer-Encoding with Content-Length",
         "RFC 9112 §6.1 lets a server reject a request with both (a smuggling vector); "
         "notifyd does, h11 lets Transfer-Encoding win.",
         refusal("Content-Length with Transfer-Encoding",
                 lambda data, e: field_values(data, b"content-length"))),
    Rule("Transfer-Encoding in HTTP/1.0",
         "RFC 9112 §6.1: a transfer coding in an HTTP/1.0 request means faulty framing; "
         "notifyd refuses it, h11 decodes it.",
         refusal("Transfer-Encoding in an HTTP/1.0 request",
                 lambda data, e: e.get("version") == 0 or e.get("error") == 501)),
    Rule("chunked not final: 400",
         "RFC 9112 §6.3: when chunked is not the final (and only-once) coding the server "
         "MUST answer 400; h11 answers 501 to every coding it does not support.",
         refusal("Chunked must be the final transfer coding", lambda data, e: e.get("error") == 501)),
    Rule("empty list elements in Transfer-Encoding",
         "RFC 9110 §5.6.1: a recipient ignores empty list elements, so 'chunked,' is "
         "chunked; h11 compares the whole value with 'chunked'.",
         acceptance(te_is_chunked_with_empty_elements)),
    Rule("Content-Length bound",
         "a Content-Length is at most 18 digits (so it cannot overflow); h11 has no bound.",
         refusal("Invalid Content-Length",
                 lambda data, e: any(re.fullmatch(r"[0-9]{19,}", v.strip(" \t"))
                                     for value in field_values(data, b"content-length")
                                     for v in value.split(",")))),
    Rule("body limit",
         "a chunked body over the configured limit gets 413 as soon as a chunk size shows "
         "it (RFC 9110 §15.5.14); h11 has no limit and waits for the data.",
         refusal("Request body too large", lambda data, e: e.get("incomplete") or
                 len(e.get("body", "")) > MAX_BODY_BYTES)),
    Rule("chunk extension syntax",
         "RFC 9112 §7.1.1: a chunk extension is ';' and tokens or quoted strings; notifyd "
         "refuses control characters there (a CR could end the line for one reader and not "
         "another) and bounds the line; h11 takes any bytes after ';'.",
         refusal(("Malformed chunk extension", "CR without LF"),
                 lambda data, e: re.search(rb"\n[0-9A-Fa-f]+[ \t]*;[^\n]*"
                                           rb"(?:[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n))", data))),
    Rule("chunk line bound",
         "a chunk-size line (size, extensions) is at most 4 KiB; h11 bounds it only by "
         "its head limit.",
         refusal("Chunk size line too long", lambda data, e: re.search(rb"\n[0-9A-Fa-f]*[^\n]{4090}", data))),
]


def explain(data, ours, theirs):
    """None when the events agree once the allowed differences are applied,
    else a description of what differs; also the names of the rules used."""
    used = []
    for _ in range(len(ALLOWED_DIFFERENCES) + 1):
        i = first_difference(ours, theirs)
        if i is None:
            return None, used
        for rule in ALLOWED_DIFFERENCES:
            if rule.name in used:
                continue
            patched = rule.patch(data, ours, theirs, i)
            if patched is not None and first_difference(ours, patched) != i:
                theirs = patched
                used.append(rule.name)
                break
        else:
            break
    i = first_difference(ours, theirs)
    return ("event %d:\n    notifyd: %.600s\n    h11:     %.600s" % (
        i, json.dumps(ours[i:i + 1]), json.dumps(theirs[i:i + 1]))), used


# --- the cases ----------------------------------------------------------------------

def req(head, body=b""):
    return head.replace(b"\n", b"\r\n") + b"\r\n" + body


GET = req(b"GET /api/channels?limit=10 HTTP/1.1\nHost: localhost:8080\nAccept: */*\n")
POST = req(b"POST /api/notify/news HTTP/1.1\nHost: localhost\nContent-Type: application/json\n"
           b"Content-Length: 11\n", b'{"a":"b\r\n"}')
CHUNKED = req(b"POST /api/notify/news HTTP/1.1\nHost: localhost\nTransfer-Encoding: chunked\n",
              b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
WS = req(b"GET /ws HTTP/1.1\nHost: localhost\nUpgrade: websocket\nConnection: Upgrade\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n")
HEAD10 = req(b"HEAD /health HTTP/1.0\n")


def h(lines, body=b"", start=b"GET / HTTP/1.1"):
    """A request with Host and the given extra field lines."""
    return req(start + b"\nHost: h\n" + lines, body)


def line(request_line):
    """`request_line`, then only Host."""
    return h(b"", start=request_line)


def chunked_get(body):
    """A GET with a chunked body."""
    return h(b"Transfer-Encoding: chunked\n", body)


CASES = [
    # request line
    ("simple GET", GET),
    ("query with ?", line(b"GET /a%20b?x=1?y=2&z HTTP/1.1")),
    ("empty query", line(b"GET /p? HTTP/1.1")),
    ("any token method", line(b"M-SEARCH! /x HTTP/1.1")),
    ("lowercase method", line(b"get / HTTP/1.1")),
    ("method not a token", line(b"GE(T / HTTP/1.1")),
    ("double space", line(b"GET  / HTTP/1.1")),
    ("trailing space", line(b"GET / HTTP/1.1 ")),
    ("leading space", line(b" GET / HTTP/1.1")),
    ("tab separator", line(b"GET\t/ HTTP/1.1")),
    ("no version", line(b"GET /")),
    ("lowercase protocol", line(b"GET / http/1.1")),
    ("HTTP/1.0", HEAD10),
    ("HTTP/1.2", line(b"GET / HTTP/1.2")),
    ("HTTP/2.0", line(b"GET / HTTP/2.0")),
    ("HTTP/0.9", line(b"GET / HTTP/0.9")),
    ("two-digit major", line(b"GET / HTTP/10.1")),
    ("NUL in target", line(b"GET /a\x00 HTTP/1.1")),
    ("DEL in target", line(b"GET /a\x7f HTTP/1.1")),
    ("obs-text in target", line(b"GET /caf\xc3\xa9 HTTP/1.1")),
    ("absolute-form", req(b"GET http://example.com/health?x=1 HTTP/1.1\nHost: other\n")),
    ("absolute-form, no path", line(b"GET HTTPS://Example.com:8443 HTTP/1.1")),
    ("absolute-form, query only", line(b"GET http://[::1]?q HTTP/1.1")),
    ("absolute-form, other scheme", line(b"GET ftp://example.com/ HTTP/1.1")),
    ("absolute-form, userinfo", line(b"GET http://u@example.com/ HTTP/1.1")),
    ("absolute-form, empty host", line(b"GET http:///x HTTP/1.1")),
    ("OPTIONS *", line(b"OPTIONS * HTTP/1.1")),
    ("GET *", line(b"GET * HTTP/1.1")),
    ("relative target", line(b"GET api HTTP/1.1")),
    ("CONNECT", req(b"CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n")),
    ("target of 8000 bytes", line(b"GET /" + b"a" * 7999 + b" HTTP/1.1")),
    ("target of 8100 bytes", line(b"GET /" + b"a" * 8099 + b" HTTP/1.1")),
    ("target of 9000 bytes", line(b"GET /" + b"a" * 8999 + b" HTTP/1.1")),
    ("empty lines first", b"\r\n\r\n" + GET),
    ("LF lines first", b"\n" + GET),
    # header syntax
    ("headers trimmed", h(b"X-B: \t two words \t\nx-a:1\nEmpty:\nBlank: \t \nColons: a:b: c\n")),
    ("repeated field lines", h(b"X-B: one\nX-A: 1\nx-b: two\n")),
    ("Connection on two lines", h(b"Connection: keep-alive\nUpgrade: websocket\nConnection: Upgrade\n")),
    ("obs-text value", h(b"X-Name: caf\xc3\xa9 \xff\n")),
    ("HTAB in value", h(b"X-A: a\tb\n")),
    ("no colon", h(b"X-A value\n")),
    ("space before colon", h(b"X-A : value\n")),
    ("empty name", h(b": value\n")),
    ("non-token name", h(b"X(y): 1\n")),
    ("NUL in value", h(b"X-A: a\x00b\n")),
    ("bare CR in value", h(b"X-A: a\rb\n")),
    ("ESC in value", h(b"X-A: a\x1b[0m\n")),
    ("DEL in value", h(b"X-A: a\x7f\n")),
    ("obs-fold", h(b"X-A: one\n two\n")),
    ("obs-fold with tab", h(b"X-A: one\n\ttwo\n")),
    ("whitespace after request line", req(b"GET / HTTP/1.1\n Host: h\n")),
    ("bare LF lines", b"GET /x HTTP/1.1\nHost: h\nA: b\n\n"),
    ("mixed line ends", b"GET /x HTTP/1.1\r\nHost: h\nA: b\r\n\n"),
    ("lone CR line", b"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n\r\n"),
    ("head of 9000 bytes", h(b"X-Pad: " + b"p" * 9000 + b"\n")),
    # Host
    ("no Host", req(b"GET / HTTP/1.1\nAccept: */*\n")),
    ("two Hosts", req(b"GET / HTTP/1.1\nHost: a\nHost: a\n")),
    ("two Hosts, any case", req(b"GET / HTTP/1.1\nHost: a\nhOST: b\n")),
    ("empty Host", req(b"GET / HTTP/1.1\nHost:\n")),
    ("Host with port", req(b"GET / HTTP/1.1\nHost: 127.0.0.1:8080\n")),
    ("IPv6 Host", req(b"GET / HTTP/1.1\nHost: [::1]:8080\n")),
    ("Host with space", req(b"GET / HTTP/1.1\nHost: a b\n")),
    ("Host with userinfo", req(b"GET / HTTP/1.1\nHost: u@a\n")),
    ("Host with path", req(b"GET / HTTP/1.1\nHost: a/b\n")),
    ("Host with bad port", req(b"GET / HTTP/1.1\nHost: a:b\n")),
    ("HTTP/1.0 without Host", req(b"GET / HTTP/1.0\n")),
    ("HTTP/1.0 with two Hosts", req(b"GET / HTTP/1.0\nHost: a\nHost: b\n")),
    # Content-Length
    ("POST with Content-Length", POST),
    ("Content-Length on GET", h(b"Content-Length: 3\n", b"abc")),
    ("Content-Length 0", h(b"Content-Length: 0\n", start=b"POST / HTTP/1.1")),
    ("Content-Length repeated", h(b"Content-Length: 5\ncontent-length: 5\n", b"hello")),
    ("Content-Length list", h(b"Content-Length: 5, 5\n", b"hello")),
    ("Content-Length conflict", h(b"Content-Length: 5\nContent-Length: 6\n", b"hello!")),
    ("Content-Length list conflict", h(b"Content-Length: 5, 6\n", b"hello!")),
    ("Content-Length leading zero", h(b"Content-Length: 5\nContent-Length: 05\n", b"hello")),
    ("Content-Length letters on GET", h(b"Content-Length: abc\n")),
    ("Content-Length sign", h(b"Content-Length: +5\n", b"hello")),
    ("Content-Length empty", h(b"Content-Length:\n")),
    ("Content-Length 19 digits", h(b"Content-Length: 1000000000000000000\n")),
    ("Content-Length body incomplete", h(b"Content-Length: 10\n", b"short")),
    # Transfer-Encoding
    ("chunked", CHUNKED),
    ("chunked, any case", h(b"Transfer-Encoding: Chunked\n", b"3\r\nabc\r\n0\r\n\r\n", b"POST / HTTP/1.1")),
    ("chunked, hex sizes", h(b"Transfer-Encoding: chunked\n",
                             b"1a\r\n" + b"x" * 26 + b"\r\n001A\r\n" + b"y" * 26 + b"\r\n0\r\n\r\n")),
    ("chunked, empty body", chunked_get(b"0\r\n\r\n")),
    ("chunked, extensions", h(b"Transfer-Encoding: chunked\n",
                              b'3;a=b\r\nabc\r\n2 ; x ; y="q;u"\r\nde\r\n0;last\r\n\r\n')),
    ("chunked, trailing space after size", chunked_get(b"3 \r\nabc\r\n0\r\n\r\n")),
    ("chunked, bare LF", chunked_get(b"3\nabc\n0\n\n")),
    ("chunked, trailers", chunked_get(b"1\r\nx\r\n0\r\nA: 1\r\nB:\r\n\r\n")),
    ("chunked, bad size", chunked_get(b"g\r\nabc\r\n0\r\n\r\n")),
    ("chunked, 0x size", chunked_get(b"0x3\r\nabc\r\n0\r\n\r\n")),
    ("chunked, data too long", chunked_get(b"3\r\nabcd\r\n0\r\n\r\n")),
    ("chunked, no CRLF after data", chunked_get(b"3\r\nabcX0\r\n\r\n")),
    ("chunked, CR without LF", chunked_get(b"3\rabc\r\n0\r\n\r\n")),
    ("chunked, control in extension", chunked_get(b"3;a\x01\r\nabc\r\n0\r\n\r\n")),
    ("chunked, malformed trailer", chunked_get(b"0\r\nnot a field\r\n\r\n")),
    ("chunked, over the body limit", chunked_get(b"fffffff\r\nabc")),
    ("chunked, 5 KiB extension", chunked_get(b"1;" + b"e" * 5000 + b"\r\nx\r\n0\r\n\r\n")),
    ("chunked, incomplete", chunked_get(b"5\r\nhel")),
    ("gzip, chunked", h(b"Transfer-Encoding: gzip, chunked\n", b"0\r\n\r\n")),
    ("chunked, gzip", h(b"Transfer-Encoding: chunked, gzip\n", b"0\r\n\r\n")),
    ("gzip only", h(b"Transfer-Encoding: gzip\n")),
    ("chunked twice", h(b"Transfer-Encoding: chunked\nTransfer-Encoding: chunked\n", b"0\r\n\r\n")),
    ("chunked with empty element", h(b"Transfer-Encoding: chunked,\n", b"0\r\n\r\n")),
    ("chunked with parameter", h(b"Transfer-Encoding: chunked;q=1\n", b"0\r\n\r\n")),
    ("TE and CL", h(b"Transfer-Encoding: chunked\nContent-Length: 5\n", b"0\r\n\r\n")),
    ("CL and TE", h(b"Content-Length: 5\nTransfer-Encoding: chunked\n", b"0\r\n\r\n")),
    ("TE in HTTP/1.0", req(b"POST / HTTP/1.0\nTransfer-Encoding: chunked\n", b"0\r\n\r\n")),
    # Expect, Connection, Upgrade
    ("Expect 100-continue", h(b"Expect: 100-continue\nContent-Length: 2\n", b"hi", b"POST / HTTP/1.1")),
    ("Expect, any case", h(b"Expect: 100-Continue\nContent-Length: 2\n", b"hi", b"POST / HTTP/1.1")),
    ("Expect other", h(b"Expect: 200-ok\n")),
    ("Expect in HTTP/1.0", req(b"POST / HTTP/1.0\nExpect: 100-continue\nContent-Length: 2\n", b"hi")),
    ("Expect other in HTTP/1.0", req(b"GET / HTTP/1.0\nExpect: something\n")),
    ("Connection close", h(b"Connection: close\n") + GET),
    ("Connection close in a list", h(b"Connection: Upgrade, CLOSE\n") + GET),
    ("HTTP/1.0 keep-alive", req(b"GET / HTTP/1.0\nConnection: keep-alive\n") + GET),
    ("HTTP/1.0 closes", HEAD10 + GET),
    ("WebSocket upgrade", WS),
    ("HTTP/1.0 upgrade", req(b"GET /ws HTTP/1.0\nConnection: Upgrade\nUpgrade: websocket\n")),
    # pipelining
    ("two GETs", GET + GET),
    ("POST then GET", POST + GET),
    ("chunked then GET", CHUNKED + GET),
    ("three mixed", GET + CHUNKED + POST),
    ("second incomplete", GET + b"GET /x HTTP/1.1\r\nHo"),
    ("second invalid", GET + b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("CRLF between requests", POST + b"\r\n" + GET),
]

VALID_SEEDS = [GET, POST, CHUNKED, WS, HEAD10, GET + POST, CHUNKED + GET,
               h(b"Expect: 100-continue\nContent-Length: 2\n", b"hi", b"POST / HTTP/1.1")]
INTERESTING = [b" ", b"\t", b"\r", b"\n", b"\r\n", b":", b",", b";", b"0", b"a", b"Z", b"\x00",
               b"\x7f", b"\xff", b"/", b"?", b"*", b"-", b"chunked", b"close", b"Host: x\r\n"]


def mutate(rng, data):
    """One random edit: a byte replaced, inserted or deleted, a line doubled
    or dropped, or a letter's case flipped."""
    pos = rng.randrange(len(data))
    kind = rng.randrange(6)
    if kind == 0:
        return data[:pos] + rng.choice(INTERESTING) + data[pos + 1:]
    if kind == 1:
        return data[:pos] + rng.choice(INTERESTING) + data[pos:]
    if kind == 2:
        return data[:pos] + data[pos + 1:]
    lines = data.split(b"\n")
    line = rng.randrange(len(lines))
    if kind == 3:
        return b"\n".join(lines[:line + 1] + lines[line:])
    if kind == 4:
        return b"\n".join(lines[:line] + lines[line + 1:])
    return data[:pos] + data[pos:pos + 1].swapcase() + data[pos + 1:]


def mutations(seed, count):
    rng = random.Random(seed)
    cases = []
    for n in range(count):
        data = rng.choice(VALID_SEEDS)
        for _ in range(1 + rng.randrange(2)):
            data = mutate(rng, data)
        cases.append(("mutation %d" % n, data))
    return cases


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    verbose = "--verbose" in sys.argv[2:]
    cases = CASES + mutations(MUTATION_SEED, MUTATION_COUNT)
    ours_all = notifyd_events(sys.argv[1], cases)
    failed, rule_counts = 0, {}
    for (name, data), ours in zip(cases, ours_all):
        theirs = h11_events(data)
        difference, used = explain(data, ours, theirs)
        for rule in used:
            rule_counts[rule] = rule_counts.get(rule, 0) + 1
        if difference:
            failed += 1
            print("FAIL %s: %r\n  %s" % (name, data[:300], difference))
        elif verbose:
            print("ok   %s%s" % (name, " (allowed: %s)" % ", ".join(used) if used else ""))
    print("allowed differences used:")
    for rule in ALLOWED_DIFFERENCES:
        print("  %4d  %s" % (rule_counts.get(rule.name, 0), rule.name))
    print("%d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
