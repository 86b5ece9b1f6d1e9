"""UPSTREAM OUTAGE: alarms and alerts are never lost while the militia's
broker is unreachable.

These tests run two brokers: the local one (sensors, sirens) and an upstream
one, configured in "upstream", which is down while the fire starts and is
brought up later on the same port. The militia's receiver is a persistent
MQTT session (clean_session false) that the upstream broker keeps across its
restarts (mosquitto persistence file), so it receives whatever the gateway
delivers as soon as the broker is back, without racing the gateway's
reconnect.
"""

import json
import os
import signal
import time

import pytest

from helpers import Broker, MqttProbe, free_port, wait_until
from test_chaos_session import hundred_rooms

MILITIA_ID = "militia-receiver"
# How long the upstream broker stays down in the 100-alarm burst tests: short
# here, to keep the suite fast (the point is that it is down while alarms
# are raised and while some were in flight); SAFEHOUSE_OUTAGE_S=120 (or
# tests/bench/alerts.sh --soak) runs the 2-minute outage.
OUTAGE_S = float(os.environ.get("SAFEHOUSE_OUTAGE_S", "5"))
SMOKE = {"smoke": True, "battery": 95}

pytestmark = pytest.mark.upstream_outage


@pytest.fixture
def upstream(tmp_path):
    """The militia's broker, with the receiver's persistent session already
    created; returned stopped unless a test starts it."""
    b = Broker(tmp_path / "upstream", port=free_port(), persistence=True)
    b.start()
    rx = MqttProbe(b.port, topics=["safehouse/#"], client_id=MILITIA_ID,
                   clean_session=False).connect()
    rx.close()
    receivers = []
    b.receivers = receivers
    yield b
    for r in receivers:
        r.close()
    b.stop()
    print("----- upstream mosquitto log -----")
    print(b.log()[-5000:])


def receive(upstream):
    """(Re)connect the militia's persistent session: it gets what the broker
    queued for it while it was away."""
    r = MqttProbe(upstream.port, topics=[], client_id=MILITIA_ID, clean_session=False).connect()
    upstream.receivers.append(r)
    return r


def use_upstream(site, upstream):
    site.config["upstream"] = {"host": "127.0.0.1", "port": upstream.port,
                               "prefix": "safehouse"}


def raise_fire_while_upstream_down(site):
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    # The siren does not wait for the internet.
    site.wait_siren("fire", since=m)
    wait_until(lambda: site.alarms(), what="the fire alarm to be active")
    wait_until(lambda: site.status()["outbox_pending"] >= 3,
               what="alarm + 2 alerts pending in the outbox")
    # Nothing went to the local broker instead.
    assert site.alarm_msgs(since=m) == [] and site.alert_msgs(since=m) == []


def check_delivered_once(site, receiver):
    alarm = site.wait_alarm(probe=receiver, state="raised")[0]
    assert alarm["class"] == "fire" and alarm["zone"] == "room-101"
    assert alarm["sensor"] == "smoke-101"
    site.wait_alert(probe=receiver, to="militia", alarm=alarm["id"])
    site.wait_alert(probe=receiver, to="owner", alarm=alarm["id"])
    wait_until(lambda: site.status()["outbox_pending"] == 0,
               what="the outbox to drain once the broker acknowledged")
    receiver.roundtrip()
    feed = [msg.json() for msg in receiver.select()
            if msg.topic in (site.topic("alarm"), site.topic("alert"))]
    seqs = [d["seq"] for d in feed]
    assert seqs == sorted(set(seqs)), f"delivered out of order or twice: {seqs}"
    assert len(site.alarm_msgs(probe=receiver, state="raised")) == 1
    assert len(site.alert_msgs(probe=receiver)) == 2


def test_upstream_outage_alarm_and_alerts_arrive_when_broker_comes_up(site, upstream):
    assert upstream.stop() == 0
    use_upstream(site, upstream)
    site.start(upstream_local=False)
    raise_fire_while_upstream_down(site)

    upstream.start()
    receiver = receive(upstream)
    check_delivered_once(site, receiver)
    receiver.wait_for(site.topic("status"), pred=lambda msg: msg.json().get("online") is True,
                      what="status online:true on the upstream broker")


def test_upstream_outage_after_connection_lost_nothing_is_lost(site, upstream):
    use_upstream(site, upstream)
    receiver = receive(upstream)
    site.start(upstream_local=False)
    receiver.wait_for(site.topic("status"), pred=lambda msg: msg.json().get("online") is True,
                      what="the gateway's status on the upstream broker")
    receiver.close()
    upstream.receivers.remove(receiver)
    assert upstream.stop() == 0

    raise_fire_while_upstream_down(site)
    upstream.start()
    check_delivered_once(site, receive(upstream))


def test_upstream_outage_outbox_survives_a_gateway_restart(site, upstream):
    assert upstream.stop() == 0
    use_upstream(site, upstream)
    site.start(upstream_local=False)
    raise_fire_while_upstream_down(site)
    assert site.stop() == 0
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["outbox_pending"] >= 3,
               what="the undelivered messages still pending after the restart")

    upstream.start()
    check_delivered_once(site, receive(upstream))


def test_upstream_link_down_past_its_limit_is_a_fault_cleared_when_back(site, upstream):
    upstream.stop()
    use_upstream(site, upstream)
    site.config["upstream"]["down_fault_s"] = 2
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["faults"] == 1, what="the upstream link fault")
    fault = [a for a in site.alarms() if a["class"] == "fault"][0]
    assert "trung tâm" in fault["message"]
    upstream.start()
    wait_until(lambda: site.status()["faults"] == 0, timeout=60,
               what="the fault to clear once the link is back")
    rx = receive(upstream)
    # the militia learns of the outage afterwards, through the outbox
    rx.wait_for("safehouse/test-site/alarm", timeout=60,
                pred=lambda m: m.json()["class"] == "fault" and m.json()["state"] == "raised",
                what="the link fault in the alarm feed")


# ---- a burst of 100 alarms across an outage ---------------------------------


def feed_of(receivers, site):
    """The alarm and alert messages, in the order the receivers got them."""
    out = []
    for r in receivers:
        out += [m for m in r.select() if m.topic in (site.topic("alarm"), site.topic("alert"))]
    return out


def check_in_seq_order(feed):
    """What a receiver that drops any seq it has seen keeps: every seq once,
    with no gap, in order; anything it drops is an exact copy."""
    kept, seen = [], {}
    for m in feed:
        seq = m.json()["seq"]
        if seq in seen:
            assert m.payload == seen[seq], f"seq {seq} came twice with different content"
            continue
        assert not kept or seq == kept[-1] + 1, \
            f"seq {seq} after {kept[-1] if kept else None}: out of order or a gap"
        seen[seq] = m.payload
        kept.append(seq)
    return kept


def burst_across_outage(site, upstream, kill_daemon):
    hundred_rooms(site)
    site.config["contacts"] = [{"id": "militia", "via": "upstream"}]
    use_upstream(site, upstream)
    first = receive(upstream)
    site.start(upstream_local=False, sensors_online=False)
    wait_until(lambda: site.status()["mqtt"]["upstream"], what="the upstream link")
    pub = [site.probe.client.publish(f"zigbee2mqtt/smoke_{i:03d}", json.dumps(SMOKE), qos=1)
           for i in range(50)]
    # Some of the first half went out before the broker stops: the stop
    # finds messages in flight.
    first.wait_for(site.topic("alarm"), what="the burst's first alarms upstream")
    assert upstream.stop() == 0
    down_at = time.monotonic()
    first.close()
    upstream.receivers.remove(first)
    pub += [site.probe.client.publish(f"zigbee2mqtt/smoke_{i:03d}", json.dumps(SMOKE), qos=1)
            for i in range(50, 100)]
    for info in pub:
        info.wait_for_publish(10)
    wait_until(lambda: len(site.alarms()) == 100, timeout=30, what="100 fire alarms")
    wait_until(lambda: site.status()["outbox_pending"] > 0, what="messages waiting upstream")
    if kill_daemon:
        site.send_signal(signal.SIGKILL)
        site.wait_exit()
        site.start(upstream_local=False, sensors_online=False)
        assert site.status()["outbox_pending"] > 0
    # The outage lasts OUTAGE_S in all (a wait for the broker, not for the
    # daemon: nothing is asserted on time).
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    upstream.start()
    second = receive(upstream)
    wait_until(lambda: site.status()["outbox_pending"] == 0, timeout=60,
               what="the outbox to drain after the outage")
    second.roundtrip()
    feed = feed_of([first, second], site)
    kept = check_in_seq_order(feed)
    alarms = [json.loads(m.payload) for m in feed if m.topic == site.topic("alarm")]
    alerts = [json.loads(m.payload) for m in feed if m.topic == site.topic("alert")]
    raised = {a["sensor"] for a in alarms if a["state"] == "raised"}
    assert raised == {f"smoke-{i:03d}" for i in range(100)}
    assert {a["alarm"] for a in alerts} == {a["id"] for a in alarms if a["state"] == "raised"}
    assert len(set(kept)) == len(kept) and len(kept) >= 200
    print(f"feed: {len(feed)} messages, {len(feed) - len(kept)} duplicates dropped by seq, "
          f"{len(feed_of([first], site))} before the outage")
    return feed


def test_burst_of_100_alarms_across_an_upstream_outage_all_arrive_in_seq_order(
        site, upstream):
    burst_across_outage(site, upstream, kill_daemon=False)


def test_burst_of_100_alarms_across_an_outage_and_a_sigkill_all_arrive_in_seq_order(
        site, upstream):
    burst_across_outage(site, upstream, kill_daemon=True)


def test_status_json_reports_alarm_to_puback_latency_after_an_alarm_is_delivered(site,
                                                                                  upstream):
    use_upstream(site, upstream)
    site.start(upstream_local=False)
    rx = receive(upstream)
    lat = site.status()["latency"]["alarm_to_puback_ms"]
    assert lat["n"] == 0 and lat["total"] == 0
    site.report("smoke-101", SMOKE)
    site.wait_alarm(probe=rx, state="raised")
    # One sample per raised alarm, taken at the broker's PUBACK (the alerts
    # of the same alarm are not alarms and add none).
    wait_until(lambda: site.status()["latency"]["alarm_to_puback_ms"]["n"] == 1,
               what="one alarm -> PUBACK sample")
    wait_until(lambda: site.status()["outbox_pending"] == 0, what="the outbox to drain")
    lat = site.status()["latency"]["alarm_to_puback_ms"]
    assert lat["n"] == 1 and lat["total"] == 1
    assert 0 < lat["p50"] == lat["p99"] == lat["max"]
