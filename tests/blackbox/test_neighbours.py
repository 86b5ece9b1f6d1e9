"""NEIGHBOURS: the neighbour group (to lien gia an toan PCCC). A neighbour's
fire, published on its alarm feed on the upstream broker, reaches this
site's rules: the model's short local warning sounds and the owner is told.

Two brokers: the local one (sirens) and the upstream one, where the
neighbour's gateway publishes PREFIX/nt-site-2/alarm and this site's
notifications arrive.
"""

import json
import signal
from pathlib import Path

import pytest

from helpers import DEFAULT_RULES, Broker, MqttProbe, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
NEIGHBOUR = "nt-site-2"
STRANGER = "nt-site-9"


@pytest.fixture
def upstream(tmp_path):
    b = Broker(tmp_path / "upstream", port=free_port())
    b.start()
    yield b
    b.stop()


@pytest.fixture
def up_probe(upstream):
    p = MqttProbe(upstream.port, topics=["safehouse/#"]).connect()
    yield p
    p.close()


@pytest.fixture
def group_site(site, upstream, up_probe):
    """The test house, in a group with nt-site-2, running the model's
    neighbour rules, with its feeds followed on the upstream broker."""
    site.config["upstream"] = {"host": "127.0.0.1", "port": upstream.port,
                               "prefix": "safehouse"}
    site.config["neighbours"] = [NEIGHBOUR, "nt-site-3"]
    site.rules["neighbours.rules"] = (ROOT / "rules/model/neighbours.rules").read_text()
    site.rules["site.rules"] = DEFAULT_RULES
    site.start(upstream_local=False)
    # The subscriptions go out before the status on the same connection:
    # once the status is on the broker, so are they.
    up_probe.wait_for(site.topic("status"), pred=lambda m: m.json().get("online") is True,
                      what="the site's status on the upstream broker")
    return site


def feed(seq, cls="fire", state="raised", site_id=NEIGHBOUR, **extra):
    msg = {"site": site_id, "id": 3, "seq": seq, "class": cls, "state": state,
           "zone": "room-201", "zone_name": "Phòng 201", "sensor": "smoke-201",
           "rule": "smoke", "message": "Phát hiện khói", "address": "Số 14, đường N5",
           "geo": None}
    msg.update(extra)
    return msg


def publish(probe, payload, site_id=NEIGHBOUR):
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    probe.publish(f"safehouse/{site_id}/alarm", text)


def owner_notes(site, probe, since=0):
    return [m.json() for m in probe.select(site.topic("notify"), since)
            if m.json().get("to") == "owner"]


def test_neighbour_fire_sounds_the_local_warning_and_tells_the_owner(group_site, up_probe):
    s = group_site
    m, mu = s.probe.mark(), up_probe.mark()
    publish(up_probe, feed(1))
    s.wait_siren("emergency", since=m)
    note = up_probe.wait_for(s.topic("notify"), since=mu,
                             pred=lambda msg: msg.json().get("to") == "owner",
                             what="the owner's notification")[0].json()
    assert NEIGHBOUR in note["message"] and "Số 14, đường N5" in note["message"]
    # Not this house's fire: no alarm of its own, nobody else called.
    assert s.alarms() == []
    assert s.alert_msgs(since=mu, probe=up_probe) == []
    st = s.status()["neighbours"]
    assert st["watched"] is True and st["sites"] == 2 and st["events"] == 1


def test_malformed_neighbour_messages_change_nothing(group_site, up_probe):
    s = group_site
    m, mu = s.probe.mark(), up_probe.mark()
    publish(up_probe, "{not json")
    publish(up_probe, feed(1, site_id="nt-site-3"))  # not the site of its topic
    publish(up_probe, feed(2, cls="blaze"))
    publish(up_probe, feed(3, state="burning"))
    bad_seq = feed(4)
    bad_seq["seq"] = "4"
    publish(up_probe, bad_seq)
    wait_until(lambda: s.status()["neighbours"]["bad"] == 5,
               what="the five bad messages counted")
    s.barrier()
    assert s.siren_cmds(since=m) == []
    assert owner_notes(s, up_probe, mu) == []
    assert s.alive()
    assert "neighbours: nt-site-2:" in s.log()
    # The feed still works afterwards.
    publish(up_probe, feed(5))
    s.wait_siren("emergency", since=m)


def test_message_from_a_site_not_in_the_group_is_ignored(group_site, up_probe):
    s = group_site
    m, mu = s.probe.mark(), up_probe.mark()
    publish(up_probe, feed(1, site_id=STRANGER), site_id=STRANGER)
    # A message from the group after it: once it is handled, so was the
    # stranger's (one connection, in order).
    publish(up_probe, feed(1, cls="intrusion"))
    wait_until(lambda: s.status()["neighbours"]["ignored"] == 1,
               what="the neighbour's intrusion seen (and ignored)")
    s.barrier()
    assert s.siren_cmds(since=m) == []
    assert owner_notes(s, up_probe, mu) == []
    assert s.status()["neighbours"]["events"] == 0


def test_a_redelivered_neighbour_message_does_not_trigger_again(group_site, up_probe):
    s = group_site
    mu = up_probe.mark()
    publish(up_probe, feed(7, cls="panic"))
    publish(up_probe, feed(7, cls="panic"))  # the same message again (at least once)
    publish(up_probe, feed(8, cls="panic"))
    notes = [m.json() for m in up_probe.wait_for(
        s.topic("notify"), since=mu, pred=lambda msg: msg.json().get("to") == "owner",
        count=2, what="the owner told of seq 7 and seq 8")]
    wait_until(lambda: s.status()["neighbours"]["events"] == 2, what="two events")
    s.barrier()
    up_probe.roundtrip()
    assert len(owner_notes(s, up_probe, mu)) == 2, notes
    assert s.status()["neighbours"]["duplicates"] == 1


def test_status_says_neighbours_are_not_watched_while_upstream_is_down(group_site, upstream):
    s = group_site
    assert upstream.stop() == 0
    wait_until(lambda: s.status()["neighbours"]["watched"] is False,
               what="status to show the neighbours unwatched")
    out = s.ctl("status").stdout
    assert "neighbours: not watched (upstream down)" in out


def test_without_upstream_the_feeds_are_followed_on_the_local_broker(site):
    site.config["neighbours"] = [NEIGHBOUR]
    site.rules["neighbours.rules"] = (ROOT / "rules/model/neighbours.rules").read_text()
    site.start()  # waits for the status on the local broker: subscribed before it
    m = site.probe.mark()
    publish(site.probe, feed(1))
    site.wait_siren("emergency", since=m)
    site.probe.wait_for(site.topic("notify"), since=m,
                        pred=lambda msg: NEIGHBOUR in msg.json().get("message", ""),
                        what="the owner's notification on the local broker")
    st = site.status()["neighbours"]
    assert st["via"] == "local" and st["watched"] is True
    assert "neighbours: watching 1 site(s) over the local broker" in site.ctl("status").stdout


def test_reload_follows_the_new_group_and_drops_the_old(group_site, up_probe):
    s = group_site
    s.config["neighbours"] = ["nt-site-4"]
    s.write()
    log_before = len(s.log())
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload: done" in s.log()[log_before:], what="the reload")
    m = s.probe.mark()
    # A message on the dropped neighbour's feed, then one on the new one's;
    # the new subscription may take a moment to be in place: repeat the
    # new neighbour's message (a new seq each time) until it is heard.
    publish(up_probe, feed(1), site_id=NEIGHBOUR)
    seq = iter(range(1, 1000))
    wait_until(lambda: publish(up_probe, feed(next(seq), site_id="nt-site-4"),
                               site_id="nt-site-4") or s.siren_cmds(since=m),
               what="the new neighbour's fire heard after the reload")
    assert s.status()["neighbours"]["sites"] == 1
    assert f"neighbours: {NEIGHBOUR}:" not in s.log()[log_before:]
