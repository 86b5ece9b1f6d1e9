"""safehouse-station on PostgreSQL on two machines (docs/station.md,
"PostgreSQL on two machines"): a primary and a hot standby by PostgreSQL's
own synchronous streaming replication (pg_server.PgServer + PgStandby, as
on Debian: pg_basebackup -R), a real mosquitto, the gateway simulator, and
a station whose URL names both servers with
target_session_attrs=read-write.

The primary is killed (SIGKILL, a machine's death as PostgreSQL sees it),
the standby is promoted (pg_ctl promote: an operator's step, or an HA
manager's), and the station finds the new primary by itself: every alarm,
before, during and after, lands exactly once. A standby that was not
promoted is never written to: the station says the database is
unreachable and the broker keeps the alarms."""

import time

import pytest

from helpers import TIMEOUT, wait_until
from pg_server import PASSWORD as PG_PASSWORD
from pg_server import PgServer, PgStandby, require as require_pg, multi_url
from station_helpers import require_station
from test_station_pg import PgStation

STANDBY = "standby1"


@pytest.fixture(scope="module", autouse=True)
def _needs():
    require_station()
    require_pg()


@pytest.fixture
def pair(tmp_path):
    """(primary, standby): synchronous replication, as docs/station.md
    sets it up: a commit returns once the standby has it too."""
    pg = PgServer(tmp_path / "pg", settings={"synchronous_standby_names": STANDBY,
                                             "synchronous_commit": "on"})
    sb = None
    try:
        sb = PgStandby(pg, tmp_path / "sb", name=STANDBY)
        print(f"primary on {pg.port}, standby on {sb.port} (made in {sb.start_s:.2f} s)")
        yield pg, sb
    finally:
        for name, s in (("primary", pg), ("standby", sb)):
            if s:
                log = s.log()
                s.stop()
                print(f"----- postgres log ({name}) -----\n{log[-4000:]}")


@pytest.fixture
def station(tmp_path, broker, pair):
    st = PgStation(tmp_path / "station", broker, multi_url(pair))
    st.add_user("an", "officer")
    yield st
    st.finish(secret=PG_PASSWORD)


def count(server, sql):
    return int(server.psql(sql))


def seqs(server, site):
    return server.psql("SELECT coalesce(string_agg(seq::text, ',' ORDER BY seq), '') "
                       f"FROM feed WHERE site = '{site}'")


def health(station):
    code, body, _ = station.request("GET", "/healthz")
    return code, body


def test_replication_is_synchronous_so_an_acknowledged_alarm_is_on_both_servers(
        station, sim, pair):
    pg, sb = pair
    assert pg.sync_state(STANDBY) == "sync"
    assert pg.psql("SHOW synchronous_commit") == "on"
    station.start()
    sim.alarm("nt-sync", 1)
    wait_until(lambda: count(pg, "SELECT count(*) FROM feed WHERE site = 'nt-sync'") == 1,
               what="the row on the primary")
    # Flushed on the standby before the commit returned; replayed a moment later.
    wait_until(lambda: count(sb, "SELECT count(*) FROM feed WHERE site = 'nt-sync'") == 1,
               what="the row on the standby")
    assert sb.in_recovery()


def test_every_alarm_lands_once_after_the_primary_dies_and_the_standby_is_promoted(
        station, sim, pair):
    pg, sb = pair
    site = "nt-fo"
    station.start()
    s = station.session("an")
    assert f"database station@127.0.0.1:{pg.port},127.0.0.1:{sb.port}/station" \
        in station.log()
    assert f"server 127.0.0.1:{pg.port}" in station.log()
    for i in (1, 2, 3):  # before
        sim.alarm(site, i)
    wait_until(lambda: seqs(pg, site) == "1,2,3", what="the first alarms on the primary")
    wait_until(lambda: seqs(sb, site) == "1,2,3", what="the first alarms on the standby")

    t_kill = time.monotonic()
    pg.kill()
    for i in (4, 5, 6):  # during: nothing can store them
        sim.alarm(site, i)
    wait_until(lambda: health(station)[0] == 503, what="/healthz 503 while no primary")
    code, body = health(station)
    assert code == 503 and body["database"] is False
    wait_until(lambda: "disconnected from the broker" in station.log(),
               what="the station to let go of the broker")
    assert seqs(sb, site) == "1,2,3"  # the standby was not written to

    t_promote = time.monotonic()
    sb.promote()
    assert not sb.in_recovery()
    for i in (7, 8):  # after
        sim.alarm(site, i)
    wait_until(lambda: seqs(sb, site) == "1,2,3,4,5,6,7,8", timeout=max(TIMEOUT, 60),
               what="every alarm in the new primary's feed")
    t_flowing = time.monotonic()
    print(f"FAILOVER: primary killed -> promote {t_promote - t_kill:.2f} s (the test's own "
          f"pace); promote -> every alarm stored on the new primary "
          f"{t_flowing - t_promote:.2f} s")
    assert count(sb, f"SELECT count(*) FROM alarms WHERE site = '{site}'") == 8
    wait_until(lambda: health(station)[0] == 200, what="/healthz 200 again")
    wait_until(lambda: len([a for a in s.alarms() if a["site"] == site]) >= 8,
               what="every alarm on the console")
    on_console = sorted(a["id"] for a in s.alarms() if a["site"] == site)
    assert on_console == [1, 2, 3, 4, 5, 6, 7, 8]
    log = station.log()
    assert f"connected to PostgreSQL station@127.0.0.1:{pg.port},127.0.0.1:{sb.port}/station " \
        f"again, server 127.0.0.1:{sb.port}" in log, log
    assert "read-only transaction" not in log
    # and the new primary keeps taking what comes
    sim.alarm(site, 9)
    wait_until(lambda: seqs(sb, site) == "1,2,3,4,5,6,7,8,9", what="the next alarm")


def test_a_standby_that_was_not_promoted_is_never_written_to(station, sim, pair):
    """The primary is gone and nobody promoted the standby: the station
    reports the database unreachable (libpq refuses the read-only server),
    it does not fail on read-only errors, and the broker keeps the alarms
    until a primary exists again."""
    pg, sb = pair
    site = "nt-ro"
    station.start()
    sim.alarm(site, 1)
    wait_until(lambda: seqs(sb, site) == "1", what="the first alarm on the standby")
    pg.kill()
    sim.alarm(site, 2)
    sim.alarm(site, 3)
    wait_until(lambda: health(station)[0] == 503, what="/healthz 503")
    code, body = health(station)
    assert body["database"] is False
    wait_until(lambda: "session is read-only" in station.log(),
               what="a reconnect that found only the read-only standby")
    log = station.log()
    assert "read-only transaction" not in log, log
    assert "cannot connect to PostgreSQL station@127.0.0.1" in log
    assert sb.in_recovery()
    assert seqs(sb, site) == "1"
    # Once a primary exists, what waited in the broker arrives.
    sb.promote()
    wait_until(lambda: seqs(sb, site) == "1,2,3", timeout=max(TIMEOUT, 60),
               what="the waiting alarms on the promoted standby")
    wait_until(lambda: health(station)[0] == 200, what="/healthz 200 again")


def test_the_standbys_death_does_not_darken_the_console_and_loses_no_alarm(
        station, sim, pair):
    """Synchronous replication's cost: with its only standby gone the
    primary holds every commit until an operator clears
    synchronous_standby_names. The station does not wait with it: it gives
    the commit up after a few seconds, says the database is unreachable
    (the console keeps answering), leaves the alarms in the broker, and
    stores them once the operator has acted."""
    pg, sb = pair
    site = "nt-sbd"
    station.start()
    s = station.session("an")
    sim.alarm(site, 1)
    wait_until(lambda: seqs(pg, site) == "1", what="the first alarm")
    sb.kill()
    sim.alarm(site, 2)
    sim.alarm(site, 3)
    wait_until(lambda: pg.psql("SELECT count(*) FROM pg_stat_activity "
                               "WHERE wait_event = 'SyncRep'", db="postgres") != "0",
               what="a commit of the station waiting for the dead standby")
    wait_until(lambda: "no answer from" in station.log(), what="the station to give it up")
    # The console answers (each request's own timeout) and says why.
    wait_until(lambda: health(station)[1]["database"] is False,
               what="/healthz to say the database is down")
    assert health(station)[0] == 503
    assert s.get("/api/alarms") is not None
    # The operator's step: this primary runs alone for now.
    pg.psql("ALTER SYSTEM SET synchronous_standby_names = ''", db="postgres")
    pg.psql("SELECT pg_reload_conf()", db="postgres")
    wait_until(lambda: seqs(pg, site) == "1,2,3", timeout=max(TIMEOUT, 60),
               what="the waiting alarms stored once")
    wait_until(lambda: health(station)[0] == 200, what="/healthz 200 again")
    wait_until(lambda: len([a for a in s.alarms() if a["site"] == site]) >= 3,
               what="the alarms on the console")
    assert sorted(a["id"] for a in s.alarms() if a["site"] == site) == [1, 2, 3]
    sim.alarm(site, 4)
    wait_until(lambda: seqs(pg, site) == "1,2,3,4", what="the next alarm")
    # The broker was never told the waiting alarms were stored.
    assert "acknowledging the broker without waiting" not in station.log()


def test_check_accepts_a_multi_host_url_without_connecting(tmp_path, broker):
    st = PgStation(tmp_path / "st", broker,
                   "postgresql://station:Hidden-9x@10.0.0.21:5432,10.0.0.22:5432/station"
                   "?target_session_attrs=read-write")
    r = st.run("--check")
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    assert "Hidden-9x" not in r.stdout + r.stderr


def test_a_misspelt_target_session_attrs_stops_the_start_clearly(tmp_path, broker, pair):
    pg, sb = pair
    st = PgStation(tmp_path / "st", broker,
                   multi_url(pair, extra="target_session_attrs=read-wirte"))
    st.start(wait=False)
    rc = st.proc.wait(TIMEOUT + 10)
    log = st.log()
    assert rc != 0, log
    assert "target_session_attrs" in log, log
    assert PG_PASSWORD not in log
