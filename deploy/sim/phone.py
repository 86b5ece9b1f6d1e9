#!/usr/bin/python3
"""The demo's phone network: a simulated SIM800 GSM modem and a local webhook
receiver, printing what the gateway sends as it happens.

    phone.py --dir TMP --webhook-port PORT [--log FILE] [--ready-file F]
             [--reply-file F] [--call-outcome answer|busy|no answer|ring]

The modem is tests/blackbox/modem_sim.py (the black-box tests' simulator, on
a socat pty pair): the gateway opens TMP/modem as its modem.device. Every SMS
it sends is decoded back from its PDUs (UCS-2 for Vietnamese) and printed as
"SMS -> NUMBER: text"; every call as "CALL -> NUMBER". The webhook receiver
answers any POST on 127.0.0.1:PORT with 200 and prints
"WEBHOOK <- PATH: message" (the alert JSON's message, or the body).

To play a person answering by SMS, write "NUMBER TEXT" lines to the
--reply-file (e.g. "+84901234567 OK"): each new line is delivered to the
modem as an incoming SMS from NUMBER. Runs until SIGTERM or SIGINT.
"""

import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))
from modem_sim import ModemSim  # noqa: E402

T0 = time.time()
LOG = None
_out_lock = threading.Lock()


def out(text):
    line = f"[{time.time() - T0:5.1f}s] {text}"
    with _out_lock:
        print(line, flush=True)
        if LOG:
            LOG.write(line + "\n")
            LOG.flush()


class Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        try:
            d = json.loads(body)
            text = d.get("message") or d.get("text") or body
        except ValueError:
            text = body  # a template's or ntfy's plain body
        out(f"WEBHOOK <- {self.path.strip('/') or '/'}: {text}")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass  # the demo prints its own line


def main():
    global T0, LOG
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="where the modem's ptys go")
    ap.add_argument("--webhook-port", type=int, required=True)
    ap.add_argument("--log", help="also append every line here")
    ap.add_argument("--ready-file", help="created once the modem and receiver are up")
    ap.add_argument("--reply-file", help="'NUMBER TEXT' lines: incoming SMS to send")
    ap.add_argument("--call-outcome", default="answer",
                    choices=["answer", "busy", "no answer", "no carrier", "ring"])
    ap.add_argument("--t0", type=float, help="the epoch time the printed seconds count from")
    args = ap.parse_args()
    if args.t0:
        T0 = args.t0
    if args.log:
        LOG = open(args.log, "a", encoding="utf-8")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    sim = ModemSim(args.dir, "sim800")
    sim.call_outcome = args.call_outcome
    sim.start()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.webhook_port), Webhook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    if args.ready_file:
        open(args.ready_file, "w").close()

    nsms = ncalls = nreplies = 0
    try:
        while not stop.wait(0.1):
            with sim._lock:
                sms, calls = list(sim.sms), list(sim.calls)
            for number, text in sms[nsms:]:
                out(f"SMS -> {number}: {text}")
            for number in calls[ncalls:]:
                out(f"CALL -> {number} (rings; outcome: {args.call_outcome})")
            nsms, ncalls = len(sms), len(calls)
            if args.reply_file and os.path.exists(args.reply_file):
                with open(args.reply_file, encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f if ln.strip()]
                for ln in lines[nreplies:]:
                    number, _, text = ln.partition(" ")
                    out(f"SMS <- {number}: {text}")
                    sim.incoming_sms(number, text)
                nreplies = len(lines)
    finally:
        httpd.shutdown()
        httpd.server_close()
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
