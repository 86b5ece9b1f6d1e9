"""THE MOSQUITTO BRIDGE: deploy/mosquitto/bridge.conf, the alternative to
safehoused's own upstream connection, carries the house's feed to the
commune broker over TLS and the militia's acknowledgments back, and nothing
else: not another house's topics, not the local sensors' and sirens'.

Two mosquittos: the "commune" one (test_upstream_tls.TlsUpstream: a TLS
listener with a test CA and a password login, and a plain loopback listener
for the test's receiver), and the gateway's local one loaded with the
shipped bridge.conf, its address, CA, login and site id substituted. The
gateway has NO upstream: it publishes its feed on the local broker.
"""

import json
import os
import re
from pathlib import Path

import pytest

from helpers import SITE_ID, Broker, MqttProbe, Site, sanitizer_report, wait_until
from test_upstream_tls import PASSWORD, USER, TlsUpstream, pki  # noqa: F401 (fixture)

BRIDGE_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "bridge.conf"
SHIPPED_SITE = "nt-minhson-ap3"
SMOKE = {"smoke": True, "battery": 95}


def bridge_conf(commune_port, cafile, site_id):
    """bridge.conf as an installer edits it: every line marked EDIT. Each
    substitution must hit, so a reworded file fails here, not vacuously."""
    text = BRIDGE_CONF.read_text()
    subs = [(r"^address \S+$", f"address 127.0.0.1:{commune_port}"),
            (r"^bridge_cafile \S+$", f"bridge_cafile {cafile}"),
            (r"^remote_username \S+$", f"remote_username {USER}"),
            (r"^remote_password \S+$", f"remote_password {PASSWORD}")]
    for pattern, repl in subs:
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == 1, f"bridge.conf: no single line matching {pattern!r}"
    assert text.count(SHIPPED_SITE) >= 10, "bridge.conf: the site id is not where expected"
    text = text.replace(SHIPPED_SITE, site_id)
    assert not re.search(r"^topic\s+#", text, flags=re.M), "bridge.conf forwards #"
    lines = text.splitlines()
    if os.geteuid() == 0:
        # mosquitto would drop to user "mosquitto", who cannot read the CA
        # in our private temp directory.
        lines.insert(0, "user root")
    return lines


class BridgedGateway:
    """The commune broker, the gateway's local broker with the bridge, a
    probe on each, and a safehoused without upstream on the local one."""

    def __init__(self, tmp_path, pki):
        self.commune = TlsUpstream(tmp_path / "commune", pki).start()
        self.local = Broker(tmp_path / "local",
                            listener_conf=bridge_conf(self.commune.broker.port,
                                                      pki / "test-ca.crt", SITE_ID))
        self.local.start()
        self.probe = MqttProbe(self.local.port).connect()
        self.site = Site(tmp_path / "site", self.local, self.probe)
        self.site.config.pop("upstream", None)
        # The commune's receiver sees everything there, not only safehouse/#:
        # a leaked sensor or siren topic must show.
        self.rx = MqttProbe(self.commune.plain_port, topics=["#"])
        self.rx.client.username_pw_set("receiver", "rx")
        self.rx.connect()
        # The bridge is up when its retained state "1" is on the commune broker.
        self.rx.wait_for(f"safehouse/{SITE_ID}/bridge",
                                 pred=lambda m: m.payload == b"1",
                                 what="the bridge's state 1 on the commune broker")

    def close(self):
        rc = self.site.close()
        self.probe.close()
        self.rx.close()
        self.local.stop()
        self.commune.stop()
        return rc


@pytest.fixture
def bridged(tmp_path, pki):  # noqa: F811 (the fixture imported above)
    b = BridgedGateway(tmp_path, pki)
    yield b
    rc = b.close()
    for name, text in (("safehoused", b.site.log()), ("local mosquitto", b.local.log()),
                       ("commune mosquitto", b.commune.broker.log())):
        print(f"----- {name} log -----")
        print(text[-6000:])
    report = sanitizer_report(b.site.log())
    if report:
        pytest.fail(f"sanitizer report in the daemon log: {report}", pytrace=False)
    if rc not in (None, 0):
        pytest.fail(f"safehoused exited with status {rc} on SIGTERM at teardown",
                    pytrace=False)


def raise_fire(b):
    m = b.probe.mark()
    b.site.report("smoke-101", SMOKE)
    b.site.wait_siren("fire", since=m)
    return b.site.wait_alarm(since=m, state="raised")[0]


def test_bridge_carries_the_gateways_alarm_to_the_commune_broker(bridged):
    bridged.site.start()
    m = bridged.rx.mark()
    alarm = raise_fire(bridged)
    got = bridged.site.wait_alarm(probe=bridged.rx, since=m, id=alarm["id"],
                                  state="raised")[0]
    assert got["sensor"] == "smoke-101"
    assert got["site"] == SITE_ID


def test_bridge_carries_the_militias_ack_from_the_commune_broker_to_the_gateway(bridged):
    bridged.site.start()
    alarm = raise_fire(bridged)
    m = bridged.rx.mark()
    bridged.rx.publish(f"safehouse/{SITE_ID}/ack",
                       json.dumps({"alarm": alarm["id"], "by": "Tuấn"}))
    # The gateway's feed says so on the commune broker, and its record too.
    bridged.site.wait_alarm(probe=bridged.rx, since=m, id=alarm["id"], state="acknowledged",
                            by="militia:Tuấn")
    wait_until(lambda: [a for a in bridged.site.alarms(all_=True) if a["id"] == alarm["id"]]
               [0].get("acknowledged_by") == "militia:Tuấn",
               what="the alarm acknowledged by militia:Tuấn")


def test_bridge_sends_nothing_but_this_houses_feed_to_the_commune(bridged):
    bridged.site.start()
    m = bridged.rx.mark()
    for topic in ("safehouse/other-site/alarm", f"safehouse/{SITE_ID}x/alarm",
                  "zigbee2mqtt/smoke_101", "zigbee2mqtt/siren_hall/set",
                  f"other/{SITE_ID}/alarm", f"safehouse/{SITE_ID}/ack"):
        bridged.probe.publish(topic, json.dumps({"leak": topic}))
    # The barrier: a forwarded topic published after them, on the same
    # connection, arrives after them (one bridge session, QoS 1, in order).
    bridged.probe.publish(f"safehouse/{SITE_ID}/notify", json.dumps({"barrier": 1}))
    bridged.rx.wait_for(f"safehouse/{SITE_ID}/notify", since=m,
                        pred=lambda x: x.json().get("barrier") == 1, what="the barrier")
    leaked = [x for x in bridged.rx.select(since=m) if b"leak" in x.payload]
    assert leaked == []


def test_bridge_brings_nothing_but_this_houses_ack_and_commands_from_the_commune(bridged):
    bridged.site.start()
    alarm = raise_fire(bridged)
    m = bridged.probe.mark()
    # A fake fire or siren command from outside, another house's ack, and
    # the house's own feed topics must stay on the commune broker.
    for topic in ("zigbee2mqtt/smoke_102", "zigbee2mqtt/siren_hall/set",
                  "safehouse/other-site/ack", f"safehouse/{SITE_ID}x/ack",
                  f"safehouse/{SITE_ID}/alarm", f"other/{SITE_ID}/ack"):
        bridged.rx.publish(topic, json.dumps({**SMOKE, "alarm": alarm["id"], "by": "leak"}))
    bridged.rx.publish(f"safehouse/{SITE_ID}/ack", json.dumps({"alarm": alarm["id"],
                                                               "by": "barrier"}))
    bridged.probe.wait_for(f"safehouse/{SITE_ID}/ack", since=m,
                           pred=lambda x: x.json().get("by") == "barrier",
                           what="the barrier ack on the local broker")
    leaked = [x for x in bridged.probe.select(since=m) if b"leak" in x.payload]
    assert leaked == []
    # The gateway took the ack that came through, and only that one.
    wait_until(lambda: [a for a in bridged.site.alarms(all_=True) if a["id"] == alarm["id"]]
               [0].get("acknowledged_by") == "militia:barrier",
               what="the alarm acknowledged by militia:barrier")
