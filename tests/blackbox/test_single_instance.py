"""A second safehoused started on the same config refuses at once and leaves
the live one alone: no broker session taken over, no status online:false
sent upstream, no event in its database, and the live one still alarms."""

import os
import signal
import sqlite3
import subprocess

import pytest

from helpers import SAFEHOUSED, TIMEOUT, Broker, MqttProbe, free_port, wait_until

SMOKE = {"smoke": True, "battery": 95}
CLIENT_ID = "safehoused-"  # the default client id's prefix; the site id follows


@pytest.fixture
def upstream(tmp_path):
    b = Broker(tmp_path / "upstream", port=free_port())
    b.start()
    yield b
    b.stop()


def daemon_events(db_path):
    with sqlite3.connect(db_path, timeout=5) as db:
        return [row[0] for row in db.execute(
            "SELECT type FROM events WHERE origin = 'daemon' ORDER BY id")]


def sessions(broker, client_id):
    """How many times the broker accepted a connection with this client id,
    and how many times it closed an old one for a newcomer with the same."""
    log = broker.log()
    return (sum(1 for line in log.splitlines()
                if "New client connected" in line and f" as {client_id} " in line),
            log.count("already connected, closing old connection"))


def test_second_daemon_on_same_config_refuses_without_disturbing_the_first(site, upstream):
    site.config["upstream"] = {"host": "127.0.0.1", "port": upstream.port,
                               "prefix": "safehouse"}
    rx = MqttProbe(upstream.port, topics=["safehouse/#"]).connect()
    try:
        site.start(upstream_local=False)
        status_topic = site.topic("status")
        rx.wait_for(status_topic, pred=lambda m: m.json().get("online") is True,
                    what="the live daemon's status online:true upstream")
        wait_until(lambda: daemon_events(site.db_path) == ["start"],
                   what="the live daemon's start event in the database")
        client_id = CLIENT_ID + site.config["site"]["id"]
        # On the local broker the daemon has two connections: the sensors'
        # reports (persistent session) and the outputs'.
        local_ids = (client_id + "-local", client_id + "-local-out")
        local_before = [sessions(site.broker, i) for i in local_ids]
        upstream_before = sessions(upstream, client_id)
        assert all(n >= 1 for n, _ in local_before) and upstream_before[0] >= 1, \
            "the broker logs do not show the live daemon's sessions: nothing to compare"
        m = rx.mark()

        r = subprocess.run([SAFEHOUSED, "-c", str(site.config_path), "-f"],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1, r.stdout + r.stderr
        db = os.path.realpath(site.db_path)
        assert (f"another safehoused (pid {site.proc.pid}) is already running with database "
                f"{db}; not starting") in r.stderr, r.stderr

        site.barrier()
        rx.roundtrip()
        assert [sessions(site.broker, i) for i in local_ids] == local_before
        assert sessions(upstream, client_id) == upstream_before
        assert [msg.json() for msg in rx.select(status_topic, since=m)
                if msg.json().get("online") is False] == []
        assert daemon_events(site.db_path) == ["start"]
        assert os.path.exists(site.socket_path)

        m, mu = site.probe.mark(), rx.mark()
        site.report("smoke-101", SMOKE)
        site.wait_siren("fire", since=m)
        rx.wait_for(site.topic("alarm"), since=mu,
                    pred=lambda msg: msg.json().get("class") == "fire",
                    what="the fire alarm upstream")
    finally:
        rx.close()


def test_check_works_while_the_daemon_runs(running_site):
    s = running_site
    r = subprocess.run([SAFEHOUSED, "-c", str(s.config_path), "--check"], capture_output=True,
                       text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr


def test_daemon_starts_again_after_the_first_was_killed(site):
    site.start()
    first = site.proc.pid
    site.stop(signal.SIGKILL)
    # The lock file is left behind, but the kernel dropped the lock with the
    # process: a stale file never keeps the gateway down.
    assert os.path.exists(site.db_path + ".lock")
    site.start()
    assert site.proc.pid != first



def test_database_directory_missing_says_so_and_does_not_start(site):
    site.config["database"] = "no-such-dir/safehouse.db"
    site.start(wait=False)
    assert site.wait_exit() == 1
    db = os.path.realpath(site.dir) + "/no-such-dir/safehouse.db"
    assert (f"cannot open lock file {db}.lock: No such file or directory; not starting"
            in site.log()), site.log()
