#!/usr/bin/python3
"""console.py: what the militia's duty console shows, for the demo.

Logs in to safehouse-station's console API like the page does and follows
its live event stream (server-sent events), printing each alarm of SITE as
it appears and changes on the console. Exits 0 once the alarm reached the
state asked for (--until), 1 on timeout.

    console.py --url http://127.0.0.1:8090 --user U --password P --site SITE \
               [--until raised|acknowledged] [--timeout 60] [--t0 EPOCH]
"""

import argparse
import http.client
import http.cookiejar
import json
import sys
import time
import urllib.parse
import urllib.request

CLASS_VI = {"fire": "CHÁY", "gas": "RÒ GAS", "panic": "KHẨN CẤP", "intrusion": "ĐỘT NHẬP",
            "lost_contact": "MẤT LIÊN LẠC", "fault": "LỖI", "tamper": "PHÁ HOẠI",
            "supervisory": "GIÁM SÁT"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--site", required=True)
    ap.add_argument("--until", default="acknowledged")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--t0", type=float, default=None)
    a = ap.parse_args()
    t0 = a.t0 or time.time()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(a.url + "/api/login",
                                 json.dumps({"user": a.user, "password": a.password}).encode(),
                                 {"Content-Type": "application/json"})
    opener.open(req, timeout=10).read()
    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
    conn.request("GET", "/api/events",
                 headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in jar)})
    resp = conn.getresponse()
    deadline = time.monotonic() + a.timeout
    event = None
    shown = set()
    while time.monotonic() < deadline:
        line = resp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "alarm":
            d = json.loads(line[5:])
            if d.get("site") != a.site:
                continue
            key = (d["id"], d["state"], bool(d.get("ack_pending")))
            if key in shown:
                continue
            shown.add(key)
            who = f" bởi/by {d['acked_by']}" if d.get("acked_by") else ""
            sent = " (ack sent, waiting for the house)" if d.get("ack_pending") else ""
            print(f"[{time.time() - t0:6.2f}s] CONSOLE: {CLASS_VI.get(d.get('class'), '?')} "
                  f"{d.get('zone_name') or ''} - {d.get('site_name') or a.site}: "
                  f"{d['state']}{who}{sent}", flush=True)
            if d["state"] == a.until:
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
