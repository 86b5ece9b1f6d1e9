"""safehouse-station against a real mosquitto, a real safehoused and a
simulator of many gateways: the console's API and live stream, the ack
round trip through the gateway, lost contact, duplicates and malformed
feed messages, log-in and CSRF, HTTPS, and a restart during a burst."""

import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from helpers import SITE_ID, wait_until
from station_helpers import PASSWORD, Station, now_rfc3339, require_station


@pytest.fixture(scope="module", autouse=True)
def _station_binary():
    require_station()


@pytest.fixture
def station(tmp_path, broker):
    st = Station(tmp_path / "station", broker)
    st.config["sites"] = [
        {"id": SITE_ID, "name": "Nhà trọ thử nghiệm", "address": "Số 7, hẻm 3",
         "phone": "+84909000111", "geo": {"lat": 10.6412, "lon": 106.7235}, "group": "to-1"},
    ]
    st.config["groups"] = [{"id": "to-1", "name": "Tổ dân phố 1"}]
    st.add_user("an", "officer")
    st.add_user("xem", "viewer")
    yield st
    st.finish()


def fire(site):
    site.report("smoke-101", {"smoke": True, "battery": 90})


# ---------------------------------------------------------------- the feed


def test_fire_from_a_real_gateway_reaches_the_open_console_live(station, running_site):
    station.start()
    s = station.session("an")
    ev = s.events()
    ev.wait("hello")
    fire(running_site)
    a = ev.wait("alarm", lambda d: d["site"] == SITE_ID and d["class"] == "fire",
                what="for the fire")
    assert a["state"] == "raised"
    assert a["site_name"] == "Nhà trọ thử nghiệm"  # from the station's directory
    assert a["zone_name"] == "Phòng 101"
    assert a["phone"] == "+84909000111"
    assert a["sensor"] == "smoke-101"
    assert a["source"] == "gateway"
    listed = s.find_alarm(site=SITE_ID, id=a["id"])
    assert listed and listed["state"] == "raised"
    ev.close()


def test_acknowledge_goes_to_the_gateway_and_its_feed_confirms(station, running_site):
    station.start()
    s = station.session("an")
    ev = s.events()
    ev.wait("hello")
    fire(running_site)
    a = ev.wait("alarm", lambda d: d["class"] == "fire")
    code, body, _ = s.call("POST", "/api/ack", {"site": SITE_ID, "alarm": a["id"]})
    assert code == 202 and body == {"sent": True}
    done = ev.wait("alarm", lambda d: d["id"] == a["id"] and d["state"] == "acknowledged",
                   what="with the gateway's acknowledged state")
    assert done["acked_by"] == "militia:an"
    # The gateway itself recorded who acknowledged it.
    g = [x for x in running_site.alarms() if x["id"] == a["id"]][0]
    assert g["state"] == "acknowledged"
    ev.close()


def test_acknowledge_is_only_marked_sent_until_the_gateway_says_so(station, sim):
    """No optimistic fake: with no gateway answering, the alarm stays raised
    and shows the ack as sent."""
    station.start()
    s = station.session("an")
    ev = s.events()
    ev.wait("hello")
    sim.alarm("nt-silent", 5)
    ev.wait("alarm", lambda d: d["site"] == "nt-silent")
    code, _, _ = s.call("POST", "/api/ack", {"site": "nt-silent", "alarm": 5})
    assert code == 202
    pending = ev.wait("alarm", lambda d: d["site"] == "nt-silent" and d["ack_pending"])
    assert pending["state"] == "raised"
    assert pending["ack_pending"]["by"] == "an"
    assert s.find_alarm(site="nt-silent", id=5)["state"] == "raised"
    ev.close()


def test_acknowledge_publishes_the_gateway_contract_message(station, sim, probe):
    station.start()
    s = station.session("an")
    sim.alarm("nt-a", 9)
    wait_until(lambda: s.find_alarm(site="nt-a", id=9), what="the alarm listed")
    m = probe.mark()
    assert s.call("POST", "/api/ack", {"site": "nt-a", "alarm": 9})[0] == 202
    msg = probe.wait_for("safehouse/nt-a/ack", since=m)[0]
    assert msg.json() == {"alarm": 9, "by": "an"}
    assert msg.qos == 1


def test_alarms_are_listed_highest_class_first_then_newest(station, sim):
    station.start()
    s = station.session("xem")
    t = int(time.time() * 1000)
    sim.alarm("nt-1", 1, cls="fault", at=now_rfc3339(t))
    sim.alarm("nt-2", 1, cls="fire", at=now_rfc3339(t - 4000))
    sim.alarm("nt-3", 1, cls="intrusion", at=now_rfc3339(t - 8000))
    sim.alarm("nt-4", 1, cls="fire", at=now_rfc3339(t - 2000))
    wait_until(lambda: len(s.alarms()) == 4, what="four alarms")
    order = [(a["site"], a["class"]) for a in s.alarms()]
    assert order == [("nt-4", "fire"), ("nt-2", "fire"), ("nt-3", "intrusion"),
                     ("nt-1", "fault")]


def test_a_reset_alarm_leaves_the_list_and_stays_in_the_house_history(station, sim):
    station.start()
    s = station.session("an")
    sim.alarm("nt-h", 3)
    sim.alarm("nt-h", 3, state="acknowledged", by="owner")
    sim.alarm("nt-h", 3, state="reset", by="owner")
    wait_until(lambda: s.find_alarm(site="nt-h") is None and
               s.get("/api/sites/nt-h")["alarms"], what="the alarm closed")
    hist = s.get("/api/sites/nt-h")["alarms"]
    assert [h["id"] for h in hist] == [3]
    assert hist[0]["state"] == "reset" and hist[0]["acked_by"] == "owner"
    assert hist[0]["ack_s"] is not None and hist[0]["reset_s"] is not None


def test_duplicate_feed_messages_make_one_row(station, sim):
    station.start()
    s = station.session("an")
    msg = sim.alarm("nt-dup", 1)
    for _ in range(3):
        sim.publish("safehouse/nt-dup/alarm", msg)
    wait_until(lambda: s.get("/api/stats")["duplicates"] >= 3, what="three duplicates seen")
    assert station.feed_rows("nt-dup") == 1
    assert len([a for a in s.alarms() if a["site"] == "nt-dup"]) == 1


def test_an_older_change_delivered_late_does_not_undo_a_newer_one(station, sim):
    station.start()
    s = station.session("an")
    sim.alarm("nt-o", 1, seq=1)
    sim.alarm("nt-o", 1, state="acknowledged", by="militia:an", seq=3)
    sim.alarm("nt-o", 1, state="raised", seq=2)
    wait_until(lambda: station.feed_rows("nt-o") == 3, what="three feed rows")
    assert s.find_alarm(site="nt-o", id=1)["state"] == "acknowledged"


BAD = [
    ("safehouse/nt-bad/alarm", b"not json"),
    ("safehouse/nt-bad/alarm", b"[1,2]"),
    ("safehouse/nt-bad/alarm", json.dumps({"site": "other", "id": 1, "seq": 1, "class": "fire",
                                           "state": "raised", "at": "2026-11-29T00:00:00Z"})),
    ("safehouse/nt-bad/alarm", json.dumps({"site": "nt-bad", "id": 1, "seq": -4,
                                           "class": "fire", "state": "raised",
                                           "at": "2026-11-29T00:00:00Z"})),
    ("safehouse/nt-bad/alarm", json.dumps({"site": "nt-bad", "id": 1, "seq": 4,
                                           "class": "volcano", "state": "raised",
                                           "at": "2026-11-29T00:00:00Z"})),
    ("safehouse/nt-bad/alarm", json.dumps({"site": "nt-bad", "id": 1, "seq": 5,
                                           "class": "fire", "state": "raised",
                                           "at": "yesterday"})),
    ("safehouse/nt-bad/heartbeat", json.dumps({"site": "nt-bad", "heartbeat_s": "x",
                                               "at": "2026-11-29T00:00:00Z"})),
    ("safehouse/nt-bad/status", json.dumps({"site": "nt-bad"})),
    ("safehouse/nt-bad/alarm", b""),
    ("safehouse/nt-bad/alarm", b"\xff\xfe{"),
]


def test_malformed_feed_messages_are_counted_logged_and_change_nothing(station, sim):
    station.start()
    s = station.session("an")
    for topic, payload in BAD:
        sim.publish(topic, payload)
    wait_until(lambda: s.get("/api/stats")["malformed"] == len(BAD),
               what=f"{len(BAD)} malformed messages counted")
    assert s.alarms() == []
    assert station.feed_rows() == 0
    assert "malformed message on safehouse/nt-bad/alarm: not a JSON object" in station.log()
    # Still working.
    sim.alarm("nt-good", 1)
    wait_until(lambda: s.find_alarm(site="nt-good"), what="a good alarm after the bad ones")


def test_an_unknown_site_is_shown_as_first_seen(station, sim):
    station.start()
    s = station.session("an")
    sim.status("nt-new")
    sim.heartbeat("nt-new")
    site = wait_until(lambda: [x for x in s.get("/api/sites")["sites"]
                               if x["site"] == "nt-new"], what="the new site listed")[0]
    assert site["known"] is False
    assert site["name"] == "Nhà trọ nt-new"  # as its status says
    assert site["first_seen"] is not None
    known = [x for x in s.get("/api/sites")["sites"] if x["site"] == SITE_ID][0]
    assert known["known"] is True and known["group"] == "to-1"


def test_sites_can_be_filtered_and_searched(station, sim):
    station.start()
    s = station.session("an")
    for site in ("nt-a1", "nt-a2", "nt-b1"):
        sim.status(site)
        sim.heartbeat(site)
    sim.alarm("nt-a2", 1)
    wait_until(lambda: s.find_alarm(site="nt-a2"), what="the alarm")
    got = s.get("/api/sites?filter=alarm")
    assert [x["site"] for x in got["sites"]] == ["nt-a2"]
    assert got["counts"]["alarm"] == 1
    got = s.get("/api/sites?q=nt-a")
    assert sorted(x["site"] for x in got["sites"]) == ["nt-a1", "nt-a2"]


# ---------------------------------------------------------------- lost contact


def test_a_silent_site_becomes_lost_contact_after_its_window_and_clears_on_report(station,
                                                                                  sim):
    station.start()
    s = station.session("an")
    ev = s.events()
    ev.wait("hello")
    sim.status("nt-quiet")
    sim.heartbeat("nt-quiet", heartbeat_s=1)  # window: 3 s
    t0 = time.monotonic()
    a = ev.wait("alarm", lambda d: d["site"] == "nt-quiet" and d["class"] == "lost_contact",
                timeout=30, what="lost contact")
    assert time.monotonic() - t0 >= 3 - 0.5  # never before the window
    assert a["source"] == "station" and a["id"] < 0 and a["state"] == "raised"
    assert [x for x in s.get("/api/sites?filter=lost")["sites"] if x["site"] == "nt-quiet"]
    sim.heartbeat("nt-quiet", heartbeat_s=60)
    ev.wait("alarm", lambda d: d["id"] == a["id"] and d["state"] == "cleared",
            what="lost contact cleared")
    site = ev.wait("site", lambda d: d["site"] == "nt-quiet" and not d["lost_contact"])
    assert site["online"] is True
    # Not acknowledged yet: stays on the screen as cleared until someone
    # has seen it; acknowledging closes it.
    assert s.find_alarm(id=a["id"])["state"] == "cleared"
    code, body, _ = s.call("POST", "/api/ack", {"site": "nt-quiet", "alarm": a["id"]})
    assert code == 200 and body == {"acked": True}
    wait_until(lambda: s.find_alarm(id=a["id"]) is None, what="the cleared loss closed")


def test_a_gateways_last_will_is_lost_contact_after_the_grace(station, sim):
    station.config["will_grace_s"] = 1
    station.start()
    s = station.session("an")
    sim.status("nt-will")
    sim.heartbeat("nt-will")
    wait_until(lambda: [x for x in s.get("/api/sites?filter=online")["sites"]
                        if x["site"] == "nt-will"], what="online")
    sim.status("nt-will", online=False)
    a = wait_until(lambda: s.find_alarm(site="nt-will", **{"class": "lost_contact"}),
                   what="lost contact from the will")
    assert "last will" in a["message"]


def test_a_will_followed_by_a_report_within_the_grace_raises_nothing(station, sim):
    """A gateway whose broker node died (or whose link blinked) is back
    within seconds, and the broker publishes its will when the new
    connection takes the session over: that is no lost contact."""
    station.config["will_grace_s"] = 3
    station.start()
    s = station.session("an")
    for site in ("nt-back", "nt-gone"):
        sim.status(site)
        sim.heartbeat(site)
    wait_until(lambda: len([x for x in s.get("/api/sites?filter=online")["sites"]
                            if x["site"] in ("nt-back", "nt-gone")]) == 2, what="both online")
    sim.status("nt-back", online=False)
    sim.status("nt-back")  # reconnected: its fresh status
    sim.status("nt-gone", online=False)  # later than nt-back's will: the horizon
    wait_until(lambda: s.find_alarm(site="nt-gone", **{"class": "lost_contact"}),
               what="lost contact for the house that did not come back")
    assert s.find_alarm(site="nt-back") is None
    assert [x for x in s.get("/api/sites?filter=online")["sites"] if x["site"] == "nt-back"]


def test_a_real_gateway_stopping_is_lost_contact(station, running_site):
    station.config["will_grace_s"] = 1
    station.start()
    s = station.session("an")
    wait_until(lambda: [x for x in s.get("/api/sites")["sites"]
                        if x["site"] == SITE_ID and x["online"]], what="the gateway online")
    running_site.stop()
    wait_until(lambda: s.find_alarm(site=SITE_ID, **{"class": "lost_contact"}),
               what="lost contact after the gateway stopped")


def test_a_site_that_keeps_reporting_is_never_lost(station, sim):
    station.start()
    s = station.session("an")
    end = time.monotonic() + 7
    while time.monotonic() < end:
        sim.heartbeat("nt-alive", heartbeat_s=1)
        time.sleep(0.5)
    assert s.find_alarm(site="nt-alive") is None
    assert "lost contact with nt-alive" not in station.log()


# ---------------------------------------------------------------- log-in, roles, CSRF


def test_login_cookie_is_httponly_and_samesite_strict(station):
    station.start()
    s = station.session("an")
    assert s.login_status == 200 and s.login_body["role"] == "officer"
    cookie = s.login_headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_a_wrong_password_is_refused(station):
    station.start()
    s = station.session("an", password="sai-mat-khau")
    assert s.login_status == 401
    assert s.login_body == {"error": "wrong user or password"}
    assert station.session("nobody").login_status == 401


def test_five_failed_logins_lock_the_account(station):
    station.start()
    for _ in range(5):
        assert station.session("an", password="sai-mat-khau").login_status == 401
    locked = station.session("an")  # even the right password now
    assert locked.login_status == 429
    assert locked.login_body["retry_s"] > 0
    assert station.session("xem").login_status == 200  # other accounts unaffected


def test_a_post_without_the_csrf_token_is_refused(station, sim):
    station.start()
    s = station.session("an")
    sim.alarm("nt-c", 1)
    wait_until(lambda: s.find_alarm(site="nt-c"), what="the alarm")
    code, _, _ = s.call("POST", "/api/ack", {"site": "nt-c", "alarm": 1}, csrf=False)
    assert code == 403
    code, _, _ = s.call("POST", "/api/ack", {"site": "nt-c", "alarm": 1}, csrf=False,
                        headers={"X-CSRF-Token": "0" * 64})
    assert code == 403
    assert s.find_alarm(site="nt-c")["ack_pending"] is None


def test_the_api_needs_a_session(station):
    station.start()
    for path in ("/api/alarms", "/api/sites", "/api/events", "/api/stats"):
        assert station.request("GET", path)[0] == 401, path


def test_a_viewer_cannot_acknowledge(station, sim):
    station.start()
    s = station.session("xem")
    sim.alarm("nt-v", 1)
    wait_until(lambda: s.find_alarm(site="nt-v"), what="the alarm")
    code, body, _ = s.call("POST", "/api/ack", {"site": "nt-v", "alarm": 1})
    assert code == 403 and "viewer" in body["error"]


def test_bad_ack_requests_are_refused_with_a_reason(station, sim):
    station.start()
    s = station.session("an")
    sim.alarm("nt-r", 1, state="raised")
    sim.alarm("nt-r", 2, state="acknowledged", by="owner")
    wait_until(lambda: s.find_alarm(site="nt-r", id=2), what="the alarms")
    assert s.call("POST", "/api/ack", {"site": "nt-r", "alarm": 77})[0] == 404
    assert s.call("POST", "/api/ack", {"site": "nt-r", "alarm": 2})[0] == 409
    assert s.call("POST", "/api/ack", {"site": "nt-r"})[0] == 400
    assert s.call("POST", "/api/ack", {"site": "nt-r", "alarm": "1; drop"})[0] == 400


def test_users_cli_refuses_bad_roles_and_short_passwords(station):
    r = station.run("users", "add", "ba", "--role", "admin", "--password-stdin",
                    input=PASSWORD + "\n")
    assert r.returncode != 0 and "role" in r.stderr
    r = station.run("users", "add", "ba", "--role", "officer", "--password-stdin",
                    input="short\n")
    assert r.returncode != 0 and "password" in r.stderr
    r = station.run("users", "list")
    assert r.returncode == 0 and "an\tofficer" in r.stdout and "xem\tviewer" in r.stdout
    assert "$argon2id$" in sqlite3.connect(station.db_path).execute(
        "SELECT hash FROM users WHERE name='an'").fetchone()[0]


# ---------------------------------------------------------------- config, HTTPS


def test_check_reports_every_config_error_with_its_position(station):
    station.config["lost_contact_s"] = 5
    station.config["http"]["language"] = "fr"
    station.config["sites"].append({"id": "x y", "group": "nope"})
    r = station.run("--check")
    assert r.returncode != 0
    errs = [l for l in r.stderr.splitlines() if re.search(r"station\.json:\d+:\d+: ", l)]
    assert len(errs) == 4, r.stderr  # every error, in one pass
    assert any("lost_contact_s" in l for l in errs)
    assert any("http.language" in l for l in errs)
    assert any("sites[1].id" in l for l in errs)
    assert any("sites[1].group" in l for l in errs)
    assert station.run("--help").returncode == 0


def test_the_console_over_https_with_the_librarys_tls(tmp_path, station):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    os.chmod(key, 0o600)
    station.tls = (cert, key)
    station.start()
    s = station.session("an")
    assert s.login_status == 200
    assert "Secure" in s.login_headers["Set-Cookie"]
    assert s.get("/api/alarms")["alarms"] == []


# ---------------------------------------------------------------- restarts


def test_station_restarted_during_a_burst_loses_nothing_and_duplicates_nothing(station, sim):
    station.start()
    sites = [f"nt-b{i:02d}" for i in range(20)]
    total = 0
    for round_ in range(10):
        if round_ == 4:
            station.kill()  # SIGKILL mid-burst: no clean shutdown
        for site in sites:
            sim.alarm(site, round_ + 1, wait=False)
            total += 1
        if round_ == 6:
            station.start()
    wait_until(lambda: station.feed_rows() == total, timeout=60,
               what=f"{total} feed rows")
    con = sqlite3.connect(station.db_path)
    per_site = dict(con.execute("SELECT site, count(DISTINCT seq) FROM feed GROUP BY site"))
    assert per_site == {s: 10 for s in sites}
    s = station.session("an")
    assert len(s.alarms()) == total


def test_an_ack_from_the_console_stops_the_gateways_escalation(station, site):
    """The militia's chain: the feed at once, a second step 30 s later. The
    officer's click on the console cancels the step before it is due."""
    site.config["contacts"] = [
        {"id": "militia", "steps": [{"via": "upstream"},
                                    {"via": "upstream", "after_s": 30}]},
        {"id": "owner", "via": "upstream"},
    ]
    site.start()
    station.start()
    s = station.session("an")
    fire(site)
    a = wait_until(lambda: s.find_alarm(site=SITE_ID, **{"class": "fire"}), what="the fire")
    assert s.call("POST", "/api/ack", {"site": SITE_ID, "alarm": a["id"]})[0] == 202

    def step_two():
        rows = site.ctl_json("outbox", "--all")["outbox"]
        return [r for r in rows if r["contact"] == "militia" and r["alarm"] == a["id"]
                and r["step"] == 2 and r["state"] == "cancelled"]

    row = wait_until(step_two, what="step 2 cancelled in the gateway's outbox")[0]
    assert "escalation stopped by militia:an" in row["last_error"]


def test_sighup_reloads_the_directory_and_keeps_it_when_the_file_is_bad(station, sim):
    import signal
    station.start()
    s = station.session("an")
    sim.heartbeat("nt-later")
    wait_until(lambda: [x for x in s.get("/api/sites")["sites"] if x["site"] == "nt-later"],
               what="the first-seen site")
    station.config["sites"].append({"id": "nt-later", "name": "Nhà trọ Đăng ký sau",
                                    "phone": "+84900000999"})
    station.write()
    station.proc.send_signal(signal.SIGHUP)
    site = wait_until(lambda: [x for x in s.get("/api/sites")["sites"]
                               if x["site"] == "nt-later" and x["known"]],
                      what="the directory reloaded")[0]
    assert site["name"] == "Nhà trọ Đăng ký sau"
    # A broken file: the running directory stays, the station says why.
    station.config_path.write_text('{"database": "station.db", "sites": [{"id": 7}]}\n')
    station.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "keeping the running configuration" in station.log(),
               what="the reload refused")
    assert "station.json:1:" in station.log()
    assert [x for x in s.get("/api/sites")["sites"] if x["site"] == "nt-later"][0]["known"]
    assert station.healthy()


def test_a_mosquitto_bridges_last_will_is_lost_contact(station, sim):
    """deploy/mosquitto/bridge.conf's notification topic: "0" when the
    house's bridge (and so the house) is cut off."""
    station.config["will_grace_s"] = 1
    station.start()
    s = station.session("an")
    sim.status("nt-br")
    sim.publish("safehouse/nt-br/bridge", "1", retain=True)
    sim.heartbeat("nt-br")
    wait_until(lambda: [x for x in s.get("/api/sites?filter=online")["sites"]
                        if x["site"] == "nt-br"], what="online")
    assert s.find_alarm(site="nt-br") is None  # "1" raises nothing
    sim.publish("safehouse/nt-br/bridge", "0", retain=True)
    a = wait_until(lambda: s.find_alarm(site="nt-br", **{"class": "lost_contact"}),
                   what="lost contact from the bridge's will")
    assert "bridge" in a["message"]
    sim.publish("safehouse/nt-br/bridge", "yes")
    wait_until(lambda: s.get("/api/stats")["malformed"] == 1, what="a bad notification counted")


def test_an_ack_sent_while_the_gateway_is_away_is_applied_when_it_is_back(tmp_path, site):
    """The gateway's upstream session is persistent: the commune broker
    keeps the officer's ack while the gateway restarts, and hands it over
    when it is back (before, it was lost and the escalation went on)."""
    from helpers import Broker
    up = Broker(tmp_path / "commune")
    up.start()
    st = Station(tmp_path / "station-up", up)
    st.add_user("an", "officer")
    try:
        site.config["upstream"] = {"host": "127.0.0.1", "port": up.port}
        site.start()
        st.start()
        s = st.session("an")
        fire(site)
        a = wait_until(lambda: s.find_alarm(site=SITE_ID, **{"class": "fire"}),
                       what="the fire on the console")
        assert site.stop() == 0
        assert s.call("POST", "/api/ack", {"site": SITE_ID, "alarm": a["id"]})[0] == 202
        site.start()
        done = wait_until(lambda: [x for x in site.alarms() if x["id"] == a["id"]
                                   and x["state"] == "acknowledged"],
                          what="the ack handed over after the restart")
        assert done
        wait_until(lambda: (s.find_alarm(site=SITE_ID, id=a["id"]) or {}).get("acked_by")
                   == "militia:an", what="the console showing it")
    finally:
        st.close()
        up.stop()


def test_a_full_disk_shows_in_healthz_and_clears_when_space_is_back(tmp_path, broker, sim):
    """The station's database on a tiny file system that fills up: the
    console still shows the alarm (from memory), /healthz says the database
    is failing (503), and says it is fine again once space is back."""
    import subprocess as sp
    mnt = tmp_path / "small"
    mnt.mkdir()
    if sp.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
              capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    st = Station(tmp_path / "st", broker)
    st.config["database"] = str(mnt / "station.db")
    try:
        st.add_user("an", "officer")
        st.start()
        s = st.session("an")
        filler = mnt / "filler"
        sp.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)
        for i in range(1, 40):
            sim.alarm("nt-disk", i, message="x" * 300)
        wait_until(lambda: st.request("GET", "/healthz")[1].get("database") is False,
                   what="/healthz to say the database is failing")
        assert st.request("GET", "/healthz")[0] == 503
        assert s.find_alarm(site="nt-disk", id=39), "the console lost the alarm"
        assert "could not record it" in st.log() or "commit failed" in st.log()
        filler.unlink()
        sim.alarm("nt-disk", 99)
        wait_until(lambda: st.request("GET", "/healthz")[1].get("database") is True,
                   what="/healthz to say the database is fine again")
        assert st.healthy()
    finally:
        st.close()
        sp.run(["umount", "-l", str(mnt)], capture_output=True)
