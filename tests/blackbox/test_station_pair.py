"""Two safehouse-stations at once on one PostgreSQL (active-active): each
with its own broker session (client id) and console port, a real
mosquitto, the gateway simulator. Gateway alarms come to both through the
broker and are one feed row; what only a station makes (lost contact, the
ack being sent) is shared through the database and its notifications; lost
contact is raised once, by the timekeeper, and the other takes over when
the timekeeper dies."""

import threading
import time

import pytest

from helpers import Broker, MqttProbe, sanitizer_report, wait_until
from pg_server import PASSWORD as PG_PASSWORD
from pg_server import require as require_pg
from station_helpers import GatewaySim, require_station
from test_station_pg import PgStation


@pytest.fixture(scope="module", autouse=True)
def _needs():
    require_station()
    require_pg()



@pytest.fixture
def pair(tmp_path, broker, pg):
    a = PgStation(tmp_path / "a", broker, pg.url, client_id="station-a")
    b = PgStation(tmp_path / "b", broker, pg.url, client_id="station-b")
    a.add_user("an")  # one users table: both consoles know her
    a.add_user("binh")
    a.start()
    wait_until(lambda: a.session("an").get("/api/stats")["timekeeper"],
               what="the first station to be the timekeeper")
    b.start()
    yield a, b
    failures = []
    for name, st in (("A", a), ("B", b)):
        rc = st.close()
        log = st.log()
        print(f"----- station {name} log -----\n{log[-12000:]}")
        report = sanitizer_report(log)
        if report:
            failures.append(f"sanitizer report in station {name}'s log: {report}")
        if PG_PASSWORD in log:
            failures.append(f"the database password is in station {name}'s log")
        if rc not in (None, 0, -9):
            failures.append(f"station {name} exited with status {rc} on SIGTERM")
    if failures:
        pytest.fail("; ".join(failures), pytrace=False)


@pytest.fixture
def acks(broker):
    p = MqttProbe(broker.port, topics=("safehouse/+/ack",)).connect()
    yield p
    p.close()


def n(pg, sql):
    return int(pg.psql(sql))


def ack_messages(probe, site):
    return [m for m in probe.messages if m.topic == f"safehouse/{site}/ack"]


def test_one_station_is_the_timekeeper_and_both_say_which(pair):
    a, b = pair
    sa, sb = a.session("an"), b.session("an")
    assert sa.get("/api/stats")["timekeeper"] is True
    assert sb.get("/api/stats")["timekeeper"] is False
    assert sb.get("/api/stats")["shared_database"] is True
    assert "another station is the timekeeper" in b.log()


def test_a_gateway_alarm_shows_on_both_consoles_and_is_one_feed_row(pair, sim, pg):
    a, b = pair
    sa, sb = a.session("an"), b.session("an")
    sim.alarm("nt-x", 4)
    for s in (sa, sb):
        wait_until(lambda: s.find_alarm(site="nt-x", id=4), what="the alarm on a console")
    # both ingested it: one stored it, the other found it there
    wait_until(lambda: sa.get("/api/stats")["messages"]["alarm"] == 1
               and sb.get("/api/stats")["messages"]["alarm"] == 1, what="both ingested it")
    assert n(pg, "SELECT count(*) FROM feed WHERE site = 'nt-x'") == 1
    assert n(pg, "SELECT count(*) FROM alarms WHERE site = 'nt-x'") == 1


def test_an_alarm_only_one_station_received_still_shows_on_the_other(tmp_path, broker, pg):
    """A broker session can miss what a dying node was handing it: what one
    station stored reaches the other's console through the database
    (NOTIFY "galarm"). Here station B is on another broker, which never
    carries the alarm at all."""
    other = Broker(tmp_path / "broker-b")
    other.start()
    a = PgStation(tmp_path / "a", broker, pg.url, client_id="station-a")
    b = PgStation(tmp_path / "b", other, pg.url, client_id="station-b")
    a.add_user("an")
    sim = None
    try:
        a.start()
        b.start()
        sb = b.session("an")
        ev = sb.events()
        ev.wait("hello")
        sim = GatewaySim(broker.port)
        sim.alarm("nt-only-a", 7)
        got = ev.wait("alarm", lambda d: d["site"] == "nt-only-a" and d["id"] == 7,
                      what="on station B's console")
        assert got["state"] == "raised"
        assert sb.get("/api/stats")["messages"]["alarm"] == 0  # not from its broker
        sim.alarm("nt-only-a", 7, state="acknowledged", by="chu-nha")
        ev.wait("alarm", lambda d: d["site"] == "nt-only-a" and d["state"] == "acknowledged",
                what="the newer state on station B's console too")
        ev.close()
    finally:
        if sim:
            sim.close()
        for st in (a, b):
            st.close()
            report = sanitizer_report(st.log())
            assert not report, report
        other.stop()


def test_an_ack_on_one_console_is_one_message_and_shows_on_both(pair, sim, acks):
    a, b = pair
    sa, sb = a.session("an"), b.session("binh")
    ev_b = sb.events()
    ev_b.wait("hello")
    sim.alarm("nt-k", 2)
    for s in (sa, sb):
        wait_until(lambda: s.find_alarm(site="nt-k", id=2), what="the alarm on a console")
    code, body, _ = sa.call("POST", "/api/ack", {"site": "nt-k", "alarm": 2})
    assert code == 202 and body == {"sent": True}
    # the other console shows it sent, live and in its list
    ev_b.wait("alarm", lambda d: d["id"] == 2 and d["ack_pending"], what="ack sent on B")
    assert sb.find_alarm(site="nt-k", id=2)["ack_pending"]["by"] == "an"
    wait_until(lambda: len(ack_messages(acks, "nt-k")) == 1, what="the ack on the broker")
    # a click on B now finds it on its way: no second message
    code, body, _ = sb.call("POST", "/api/ack", {"site": "nt-k", "alarm": 2})
    assert code == 202 and body == {"sent": True, "by": "an"}
    # the gateway confirms: acknowledged on both
    sim.alarm("nt-k", 2, state="acknowledged", by="militia:an")
    for s in (sa, sb):
        wait_until(lambda: s.find_alarm(site="nt-k", id=2)["state"] == "acknowledged",
                   what="acknowledged on a console")
    time.sleep(1.5)  # a second ack, if any, would have reached the broker by now
    assert len(ack_messages(acks, "nt-k")) == 1
    ev_b.close()


def test_a_double_ack_on_both_consoles_at_once_sends_one_message(pair, sim, acks):
    a, b = pair
    sa, sb = a.session("an"), b.session("binh")
    sim.alarm("nt-d", 8)
    for s in (sa, sb):
        wait_until(lambda: s.find_alarm(site="nt-d", id=8), what="the alarm on a console")
    answers = {}
    go = threading.Barrier(2)

    def click(name, s):
        go.wait()
        answers[name] = s.call("POST", "/api/ack", {"site": "nt-d", "alarm": 8})[:2]

    threads = [threading.Thread(target=click, args=x) for x in (("a", sa), ("b", sb))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [answers[k][0] for k in ("a", "b")] == [202, 202], answers
    wait_until(lambda: ack_messages(acks, "nt-d"), what="an ack on the broker")
    time.sleep(1.5)  # a second ack, if any, would have reached the broker by now
    msgs = ack_messages(acks, "nt-d")
    assert len(msgs) == 1, [m.payload for m in msgs]
    # both consoles name the one who sent it
    sender = msgs[0].json()["by"]
    for s in (sa, sb):
        wait_until(lambda: (s.find_alarm(site="nt-d", id=8)["ack_pending"] or {}).get("by")
                   == sender, what="the sender shown on a console")


def test_lost_contact_is_raised_once_and_shows_on_both_consoles(pair, sim, pg):
    a, b = pair
    sa, sb = a.session("an"), b.session("an")
    ev_b = sb.events()
    ev_b.wait("hello")
    sim.status("nt-q")
    sim.heartbeat("nt-q", heartbeat_s=1)  # window: 3 s
    got = ev_b.wait("alarm", lambda d: d["site"] == "nt-q" and d["class"] == "lost_contact",
                    timeout=30, what="lost contact on B")
    assert got["source"] == "station"
    wait_until(lambda: sa.find_alarm(site="nt-q", **{"class": "lost_contact"}),
               what="lost contact on A")
    assert sb.find_alarm(site="nt-q", **{"class": "lost_contact"})["id"] == got["id"]
    assert [x for x in sb.get("/api/sites?filter=lost")["sites"] if x["site"] == "nt-q"]
    # one row, one journal line, raised by A
    assert n(pg, "SELECT count(*) FROM alarms WHERE site = 'nt-q' AND id < 0") == 1
    assert n(pg, "SELECT count(*) FROM events WHERE site = 'nt-q' "
                 "AND what = 'lost_contact'") == 1
    assert "lost contact with nt-q" in a.log() and "lost contact with nt-q" not in b.log()
    # acknowledged on B: A shows it too
    code, body, _ = sb.call("POST", "/api/ack", {"site": "nt-q", "alarm": got["id"]})
    assert code == 200 and body == {"acked": True}
    wait_until(lambda: sa.find_alarm(site="nt-q", id=got["id"])["state"] == "acknowledged",
               what="the loss acknowledged on A")
    ev_b.close()


def test_when_the_timekeeper_dies_the_other_takes_over_lost_contact(pair, sim, pg):
    a, b = pair
    sb = b.session("an")
    # nt-gone is silent from the start: A raises it
    sim.status("nt-gone")
    sim.heartbeat("nt-gone", heartbeat_s=1)
    wait_until(lambda: sb.find_alarm(site="nt-gone", **{"class": "lost_contact"}),
               timeout=30, what="A's loss of nt-gone on B")
    stop = {"nt-stop": threading.Event(), "nt-live": threading.Event()}

    def beat(site):
        while not stop[site].is_set():
            sim.heartbeat(site, heartbeat_s=1, wait=False)
            stop[site].wait(0.5)

    threads = [threading.Thread(target=beat, args=(x,), daemon=True) for x in stop]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: [x for x in sb.get("/api/sites?filter=online")["sites"]
                            if x["site"] in stop], what="both beating sites online")
        a.kill()  # SIGKILL: its PostgreSQL session, and the lock, end with it
        wait_until(lambda: sb.get("/api/stats")["timekeeper"], timeout=30,
                   what="B to take over")
        stop["nt-stop"].set()  # this one really stops
        wait_until(lambda: sb.find_alarm(site="nt-stop", **{"class": "lost_contact"}),
                   timeout=30, what="B to raise nt-stop's loss")
    finally:
        for e in stop.values():
            e.set()
    assert "this station is the timekeeper now" in b.log()
    assert sb.find_alarm(site="nt-live") is None
    assert n(pg, "SELECT count(*) FROM alarms WHERE site = 'nt-live'") == 0
    # what A had raised is not raised again
    assert n(pg, "SELECT count(*) FROM alarms WHERE site = 'nt-gone' AND id < 0") == 1
    assert n(pg, "SELECT count(*) FROM alarms WHERE site = 'nt-stop' AND id < 0") == 1
