"""Bad Modbus replies (wrong function code, wrong length, garbage) from a
broken device: counted per device and logged, never a crash, never read as
a value, and another bus keeps working. The broken device is a raw TCP peer
written here, because a real server cannot be made to answer wrongly.

A wrong unit id in a Modbus TCP reply is not caught: libmodbus 3.1.6
(Debian 12) checks the transaction id but not the unit id over TCP (it does
over RTU). README "Troubleshooting" says so."""

import socket
import struct
import threading

import pytest

from helpers import wait_until
from modbus_helpers import start_modbus_site, tcp_bus, use_modbus, wait_device


class BrokenPeer:
    """Answers every Modbus TCP request wrongly, in turn: a wrong function
    code, a byte count that does not match the request, garbage."""

    def __init__(self, modes=(0, 2, 3)):
        self.modes = modes
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.answered = 0
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        with conn:
            while not self.stop:
                try:
                    req = conn.recv(260)
                except OSError:
                    return
                if len(req) < 8:
                    return
                tid, _, _, uid, fc = struct.unpack(">HHHBB", req[:8])
                mode = self.modes[self.answered % len(self.modes)]
                self.answered += 1
                if mode == 0:    # wrong function code
                    pdu = bytes([fc ^ 0x01, 1, 0])
                    rsp = struct.pack(">HHHB", tid, 0, len(pdu) + 1, uid) + pdu
                elif mode == 2:  # byte count that does not match the request
                    pdu = bytes([fc, 5, 0, 0, 0, 0, 0])
                    rsp = struct.pack(">HHHB", tid, 0, len(pdu) + 1, uid) + pdu
                else:            # garbage
                    rsp = b"\xff\x00\x13\x37garbage!"
                try:
                    conn.sendall(rsp)
                except OSError:
                    return

    def close(self):
        self.stop = True
        self.srv.close()


@pytest.fixture
def broken_peer():
    peer = BrokenPeer()
    yield peer
    peer.close()


def test_bad_replies_are_counted_and_logged_and_another_bus_still_alarms(
        broken_peer, make_modbus_sim, site):
    good = make_modbus_sim(units=(1,), tcp_port=0)
    use_modbus(site, [tcp_bus("good", good.port), tcp_bus("broken", broken_peer.port)], [
        {"id": "smoke-good", "name": "smoke-good", "kind": "smoke", "zone": "room-101",
         "modbus": {"bus": "good", "unit": 1, "discrete_input": 0}},
        {"id": "smoke-broken", "name": "smoke-broken", "kind": "smoke", "zone": "room-102",
         "modbus": {"bus": "broken", "unit": 1, "discrete_input": 0}},
    ], rules="""\
rule "wired smoke"
when any sensor becomes detected
then
  alarm fire
  siren on fire
end
""")
    start_modbus_site(site, absent=[("broken", 1)])
    wait_until(lambda: broken_peer.answered >= 8, what="8 bad replies sent")
    dev = wait_device(site, "broken", 1, "fault",
                      pred=lambda d: d.get("errors", 0) + d.get("timeouts", 0) >= 4)
    assert dev["errors"] > 0, dev
    assert dev["ok"] == 0, "no bad reply may pass for a reading"
    wait_until(lambda: "bad reply" in site.log(), what="a log line about bad replies")
    assert site.alive()

    m = site.probe.mark()
    good.set("di", 1, 0, 1)
    site.wait_alarm(since=m, state="raised", sensor="smoke-good", **{"class": "fire"})
    assert not any(a.get("sensor") == "smoke-broken" for a in site.alarms()), \
        "a garbage reply must never read as smoke"
