"""safehouse-station on PostgreSQL: a private PostgreSQL 15 server per test
(pg_server.PgServer, fsync on), a real mosquitto, the gateway simulator.
The store's own unit tests run against the server too; then the station as
a user sees it: alarms land once, a restart reloads the board from the
server, a restarted server loses nothing the broker delivered, and every
way of getting the database wrong is said plainly, without the password."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import TIMEOUT, wait_until
from pg_server import PASSWORD as PG_PASSWORD
from pg_server import require as require_pg
from station_helpers import STATION, Station, now_rfc3339, require_station

UNIT = Path(STATION).parent / "test_station_store"


@pytest.fixture(scope="module", autouse=True)
def _needs():
    require_station()
    require_pg()



class PgStation(Station):
    """A station whose database is a PostgreSQL URL (the config holds its
    password, so the file is 0600 as the station demands)."""

    def __init__(self, workdir, broker, url, **kw):
        super().__init__(workdir, broker, **kw)
        self.config["database"] = url

    def write(self):
        super().write()
        os.chmod(self.config_path, 0o600)


@pytest.fixture
def station(tmp_path, broker, pg):
    st = PgStation(tmp_path / "station", broker, pg.url)
    st.add_user("an", "officer")
    yield st
    st.finish(secret=PG_PASSWORD)


def count(pg, sql):
    return int(pg.psql(sql))


def test_the_store_unit_tests_pass_against_postgresql(pg):
    r = subprocess.run([str(UNIT), pg.url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[  PASSED  ] 10 test(s)" in r.stdout + r.stderr, r.stdout + r.stderr


def test_an_alarm_lands_once_in_postgresql_and_shows_on_the_console(station, sim, pg):
    station.start()
    s = station.session("an")
    sim.alarm("nt-pg", 3)
    wait_until(lambda: s.find_alarm(site="nt-pg", id=3), what="the alarm on the console")
    wait_until(lambda: count(pg, "SELECT count(*) FROM feed WHERE site = 'nt-pg'") == 1,
               what="its feed row")
    assert pg.psql("SELECT state || ' ' || cls FROM alarms WHERE site = 'nt-pg' AND id = 3") \
        == "raised fire"
    assert pg.psql("SELECT version FROM station_schema") == "2"
    assert s.get("/api/stats")["feed_rows"] == 1
    code, body, _ = station.request("GET", "/healthz")
    assert code == 200 and body["database"] is True


def test_a_redelivered_message_makes_no_second_row(station, sim, pg):
    station.start()
    s = station.session("an")
    msg = sim.alarm("nt-dup", 1)
    for _ in range(3):
        sim.publish("safehouse/nt-dup/alarm", msg)
    wait_until(lambda: s.get("/api/stats")["duplicates"] >= 3, what="three duplicates seen")
    assert count(pg, "SELECT count(*) FROM feed WHERE site = 'nt-dup'") == 1
    assert len([a for a in s.alarms() if a["site"] == "nt-dup"]) == 1


def test_a_restarted_station_reloads_its_board_from_postgresql(station, sim, pg):
    station.start()
    s = station.session("an")
    sim.alarm("nt-r", 7, zone_name="Phòng 7")
    wait_until(lambda: s.find_alarm(site="nt-r", id=7), what="the alarm on the console")
    assert station.stop() == 0
    station.start()
    s = station.session("an")  # the user too comes from PostgreSQL
    assert s.login_status == 200
    a = s.find_alarm(site="nt-r", id=7)
    assert a and a["state"] == "raised" and a["zone_name"] == "Phòng 7"
    assert any(x["site"] == "nt-r" for x in s.get("/api/sites")["sites"])
    assert "database station@127.0.0.1" in station.log()


def test_messages_during_a_postgresql_restart_land_once_after_it(station, sim, pg):
    """The server is killed while the station runs: what arrives meanwhile
    is not acknowledged to the broker, which delivers it again once the
    database is back; every message ends up in the feed exactly once."""
    station.start()
    s = station.session("an")
    sim.alarm("nt-o", 1)
    wait_until(lambda: count(pg, "SELECT count(*) FROM feed") == 1, what="the first row")
    pg.kill()
    for i in range(2, 7):
        sim.alarm("nt-o", i)
    wait_until(lambda: "disconnected from the broker" in station.log(),
               what="the station to let go of the broker")
    code, body, _ = station.request("GET", "/healthz")
    assert code == 503 and body["database"] is False
    pg.restart()
    wait_until(lambda: count(pg, "SELECT count(*) FROM feed") == 6, timeout=60,
               what="every message in the feed")
    assert pg.psql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM feed") == "1,2,3,4,5,6"
    wait_until(lambda: station.healthy() and station.request("GET", "/healthz")[0] == 200,
               what="/healthz healthy again")
    assert {a["id"] for a in s.alarms() if a["site"] == "nt-o"} == {1, 2, 3, 4, 5, 6}
    # and nothing more arrives twice later
    sim.alarm("nt-o", 7)
    wait_until(lambda: count(pg, "SELECT count(*) FROM feed") == 7, what="the next row")
    assert "connected to PostgreSQL station@127.0.0.1" in station.log()


def test_check_accepts_a_postgresql_url_without_connecting(station):
    station.config["database"] = "postgresql://station:pw@192.0.2.1:5432/station"
    r = station.run("--check")
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_check_refuses_a_malformed_postgresql_url_without_its_password(station):
    station.config["database"] = "postgresql://station:Hidden-9x@127.0.0.1:5432/db?nosuch=1"
    r = station.run("--check")
    assert r.returncode != 0
    assert "not a valid PostgreSQL URL" in r.stderr, r.stderr
    assert "database" in r.stderr
    assert "Hidden-9x" not in r.stderr + r.stdout


def start_fails(st):
    st.start(wait=False)
    rc = st.proc.wait(TIMEOUT + 10)
    assert rc != 0
    return st.log()


def test_a_wrong_password_stops_the_start_with_a_clear_message(tmp_path, broker, pg):
    url = pg.url.replace(PG_PASSWORD, "Wrong-pw-41")
    st = PgStation(tmp_path / "st", broker, url)
    log = start_fails(st)
    assert "password authentication failed" in log, log
    assert f"station@127.0.0.1:{pg.port}/station" in log
    assert "Wrong-pw-41" not in log


def test_an_unreachable_server_stops_the_start_with_a_clear_message(tmp_path, broker, pg):
    url = pg.url.replace(f":{pg.port}/", ":1/")
    st = PgStation(tmp_path / "st", broker, url)
    log = start_fails(st)
    assert "cannot connect to PostgreSQL station@127.0.0.1:1/station" in log, log
    assert PG_PASSWORD not in log


def test_a_malformed_url_stops_the_start_without_its_password(tmp_path, broker):
    st = PgStation(tmp_path / "st", broker,
                   "postgresql://station:Hidden-9x@127.0.0.1:notaport/station")
    log = start_fails(st)
    assert "Hidden-9x" not in log, log
    assert "PostgreSQL" in log or "port" in log


def test_users_are_managed_in_postgresql(station, pg):
    r = station.run("users", "list")
    assert r.returncode == 0 and "an\tofficer" in r.stdout
    assert pg.psql("SELECT role FROM users WHERE name = 'an'") == "officer"


def test_text_that_is_not_utf8_or_cut_mid_character_lands_with_the_rest(station, sim, pg):
    """PostgreSQL refuses text that is not UTF-8, and one refused field
    would fail the whole burst: a zone name longer than the station keeps
    (cut inside a Vietnamese letter) and raw bytes that are not UTF-8 both
    land, with U+FFFD in place of what was broken."""
    station.start()
    s = station.session("an")
    sim.alarm("nt-u", 1, zone_name="Phòng trọ tầng ba " * 12, wait=False)
    raw = json.dumps({"site": "nt-u", "id": 2, "seq": 2, "class": "fire", "state": "raised",
                      "zone": "z", "zone_name": "XXXX", "at": now_rfc3339()}).encode()
    sim.publish("safehouse/nt-u/alarm", raw.replace(b"XXXX", b"Ph\xf2ng \xff"), wait=False)
    sim.seq["nt-u"] = 2
    sim.alarm("nt-u", 3)
    wait_until(lambda: count(pg, "SELECT count(*) FROM feed WHERE site = 'nt-u'") == 3,
               what="three feed rows")
    assert count(pg, "SELECT count(*) FROM alarms WHERE site = 'nt-u'") == 3
    assert pg.psql("SELECT zone_name FROM alarms WHERE site = 'nt-u' AND id = 2") \
        == "Ph\ufffdng \ufffd"
    assert {a["id"] for a in s.alarms() if a["site"] == "nt-u"} == {1, 2, 3}
    assert s.get("/api/stats")["malformed"] == 0
