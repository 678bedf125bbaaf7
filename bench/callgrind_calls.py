#!/usr/bin/python3
"""Counts the calls to chosen functions in a callgrind dump (per delivery).

    bench/callgrind_calls.py callgrind.out.1 DELIVERIES [substring ...]
Default substrings: malloc, operator new, free, pthread_mutex_lock, strand dispatch.
"""
import re
import sys

path, deliveries = sys.argv[1], float(sys.argv[2])
wanted = sys.argv[3:] or ["malloc", "operator new(", "free", "pthread_mutex_lock",
                          "strand_service::do_dispatch", "sendmsg", "epoll_wait"]
names = {}
calls = {}
cfn = None
with open(path, errors="replace") as f:
    for line in f:
        m = re.match(r"^cfn=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2).strip()
            cfn = names.get(m.group(1), m.group(1))
            continue
        m = re.match(r"^fn=\((\d+)\)(?: (.*))?$", line)
        if m and m.group(2):
            names[m.group(1)] = m.group(2).strip()
            continue
        m = re.match(r"^calls=(\d+)", line)
        if m and cfn is not None:
            calls[cfn] = calls.get(cfn, 0) + int(m.group(1))
            cfn = None
for w in wanted:
    hits = {n: c for n, c in calls.items()
            if (n == w or re.match(re.escape(w) + r"(@|'|$)", n) or
                ((w.endswith("(") or "::" in w) and w in n))}
    total = sum(hits.values())
    print(f"{w:32s} {total:>12,d} calls  {total / deliveries:8.2f} per delivery")
