"""UPSTREAM OUTAGE: alarms and alerts are never lost while the militia's
broker is unreachable.

This test runs two brokers: the local one (sensors, sirens) and an upstream
one, configured in "upstream", which is down while the fire starts and is
brought up later on the same port. The militia's receiver is a persistent
MQTT session (clean_session false) that the upstream broker keeps across its
restart, so it receives whatever the gateway delivers as soon as the broker
is back, without racing the gateway's reconnect.
"""

import pytest

from helpers import Broker, MqttProbe, free_port, wait_until

MILITIA_ID = "militia-receiver"


@pytest.mark.upstream_outage
def test_upstream_outage_alarm_and_alerts_arrive_after_broker_returns(site, tmp_path):
    up_port = free_port()
    upstream = Broker(tmp_path / "upstream", port=up_port, persistence=True)
    receiver = None
    try:
        # Create the militia's persistent session, then take the broker down.
        upstream.start()
        rx = MqttProbe(up_port, topics=["safehouse/#"], client_id=MILITIA_ID,
                       clean_session=False).connect()
        rx.close()
        assert upstream.stop() == 0
        assert (tmp_path / "upstream" / "mosquitto.db").exists()

        site.config["upstream"] = {"host": "127.0.0.1", "port": up_port, "prefix": "safehouse"}
        site.start(upstream_local=False)

        m = site.probe.mark()
        site.report("smoke-101", {"smoke": True, "battery": 95})
        # The siren does not wait for the internet.
        site.wait_siren("fire", since=m)
        wait_until(lambda: site.alarms(), what="the fire alarm to be active")
        wait_until(lambda: site.status()["outbox_pending"] >= 3,
                   what="alarm + 2 alerts pending in the outbox")
        # Nothing went to the local broker instead.
        assert site.alarm_msgs(since=m) == [] and site.alert_msgs(since=m) == []

        upstream.start()
        receiver = MqttProbe(up_port, topics=[], client_id=MILITIA_ID,
                             clean_session=False).connect()
        alarm = site.wait_alarm(probe=receiver, state="raised")[0]
        assert alarm["class"] == "fire" and alarm["zone"] == "room-101"
        assert alarm["sensor"] == "smoke-101"
        site.wait_alert(probe=receiver, to="militia", alarm=alarm["id"])
        site.wait_alert(probe=receiver, to="owner", alarm=alarm["id"])
        wait_until(lambda: site.status()["outbox_pending"] == 0,
                   what="the outbox to drain once the broker acknowledged")
        feed = [msg.json() for msg in receiver.select()
                if msg.topic in (site.topic("alarm"), site.topic("alert"))]
        seqs = [d["seq"] for d in feed]
        assert seqs == sorted(set(seqs)), f"delivered out of order or twice: {seqs}"
        # The site's status reaches the militia too.
        receiver.wait_for(site.topic("status"),
                          pred=lambda msg: msg.json().get("online") is True,
                          what="status online:true on the upstream broker")
    finally:
        if receiver is not None:
            receiver.close()
        upstream.stop()
        print("----- upstream mosquitto log -----")
        print(upstream.log()[-5000:])
