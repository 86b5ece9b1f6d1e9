"""CHAOS, STORE: a database on a disk that fills up or turns read-only.

A full disk must not lose a fire: the siren sounds, the alarm reaches the
militia from memory (marked "durable": false), the store's failure is a
fault at once (status, upstream, the owner), and when space comes back
everything held in memory is written in order with no seq skipped. A
database the daemon cannot write at all is refused at start, loudly.

The disk is a real tmpfs of 1 MiB mounted for the test (root only), filled
by a file; nothing is simulated inside the daemon.
"""

import errno
import json
import os
import sqlite3
import subprocess

import pytest

from helpers import DEFAULT_RULES, SAFEHOUSED, TIMEOUT, run_check, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="mounts a small tmpfs: needs root (CI runs as root)")

OWNER_RULE = """
rule "every fault: tell the owner"
when alarm fault becomes raised
then alert owner
end
"""


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)],
                   check=True)
    yield mnt
    # The daemon is stopped by the site fixture first (it was created first,
    # so it is torn down last... hence a lazy unmount).
    subprocess.run(["chattr", "-i", *[str(p) for p in mnt.iterdir()]],
                   capture_output=True)
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt):
    """Fill the filesystem to the last byte; return the filler's path."""
    path = mnt / "filler"
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    with open(path, "ab", buffering=0) as f:  # and the last partial block
        try:
            while True:
                f.write(b"\0")
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return path


def store_status(site):
    return site.status()["store"]


def make_disk_refuse_writes(site, mnt):
    """Fill the disk, then toggle the door until the store reports that it
    cannot write (its WAL may still have room for a few commits)."""
    filler = fill(mnt)
    state = [False]

    def toggled_and_failing():
        state[0] = not state[0]
        site.report("door-main", {"contact": state[0], "battery": 90})
        return not store_status(site)["ok"]

    wait_until(toggled_and_failing, interval=0.1, what="the store to report it cannot write")
    return filler


def check_and_start(site):
    """--check on the site's config, then a start in the foreground (which
    must refuse and exit): both results."""
    check = run_check(site.config_path)
    start = subprocess.run([SAFEHOUSED, "-c", str(site.config_path), "-f"], capture_output=True,
                           text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return check, start


def test_full_disk_alarm_reaches_militia_and_is_written_when_space_returns(site, small_disk):
    site.config["database"] = str(small_disk / "safehouse.db")
    site.rules["site.rules"] = DEFAULT_RULES + OWNER_RULE
    site.start()
    filler = make_disk_refuse_writes(site, small_disk)

    # The failure is a fault at once: status, upstream, the owner.
    st = store_status(site)
    assert "full" in st["error"], st
    fault = site.wait_alarm(**{"class": "fault", "state": "raised", "rule": "store"})[0]
    assert fault.get("durable") is False, fault
    assert "Lỗi lưu trữ" in fault["message"], fault
    site.wait_alert(to="owner", alarm=fault["id"])
    assert site.status()["faults"] >= 1
    assert "CANNOT WRITE" in site.ctl("status").stdout
    site.probe.wait_for(site.topic("gateway/state"),
                        pred=lambda m: m.json()["fault"] == "ON" and "full" in m.json()["store"],
                        what="Home Assistant's gateway fault sensor on, naming the disk")

    # A fire on the full disk: siren, alarm and alerts, sent from memory.
    m = site.probe.mark()
    site.report("smoke-101", {"smoke": True, "battery": 90})
    site.wait_siren("fire", since=m)
    fire = site.wait_alarm(since=m, **{"class": "fire", "state": "raised"})[0]
    assert fire.get("durable") is False, fire
    site.wait_alert(since=m, to="militia", alarm=fire["id"])
    assert not store_status(site)["ok"]

    # Space comes back: everything held is written, the fault clears.
    filler.unlink()
    wait_until(lambda: store_status(site)["ok"], what="the store to write again")
    site.wait_alarm(**{"class": "fault", "state": "cleared", "rule": "store"})
    site.barrier()
    with sqlite3.connect(f"file:{site.db_path}?mode=ro", uri=True) as db:
        seqs = [r[0] for r in db.execute("SELECT seq FROM outbox ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), f"seq skipped or missing: {seqs}"
        fires = db.execute("SELECT id, state FROM alarms WHERE class='fire'").fetchall()
        assert fires == [(fire["id"], "raised")], fires
        payloads = [json.loads(r[0]) for r in db.execute(
            "SELECT payload FROM outbox WHERE kind='alarm'")]
    assert any(p["id"] == fire["id"] and p["state"] == "raised" for p in payloads)
    # Everything the broker took was also marked delivered, none is resent.
    wait_until(lambda: site.status()["outbox_pending"] == 0, what="the outbox to drain")

    # And it survives a restart: the fire is still active, not raised again.
    site.stop()
    m = site.probe.mark()
    site.start()
    assert [a["id"] for a in site.alarms() if a["class"] == "fire"] == [fire["id"]]
    site.barrier()
    assert not site.alarm_msgs(since=m, **{"class": "fire", "state": "raised"})


def test_siren_keeps_sounding_and_alarms_keep_flowing_while_the_disk_stays_full(
        site, small_disk):
    site.config["database"] = str(small_disk / "safehouse.db")
    site.start()
    make_disk_refuse_writes(site, small_disk)
    m = site.probe.mark()
    site.report("gas-kitchen", {"gas": True})
    site.wait_siren("emergency", since=m)
    gas = site.wait_alarm(since=m, **{"class": "gas", "state": "raised"})[0]
    site.report("smoke-102", {"smoke": True})
    fire = site.wait_alarm(since=m, **{"class": "fire", "state": "raised"})[0]
    # seq keeps growing across messages sent from memory.
    assert fire["seq"] > gas["seq"]
    assert site.ctl("ack", "--by", "Lan").returncode == 0
    site.wait_alarm(since=m, **{"class": "fire", "state": "acknowledged"})
    assert not store_status(site)["ok"]
    assert store_status(site)["held"] > 0


def test_immutable_database_refuses_to_start_and_check_says_so(site, small_disk):
    site.config["database"] = str(small_disk / "safehouse.db")
    site.start()
    site.stop()
    subprocess.run(["chattr", "+i", site.config["database"]], check=True)

    check, start = check_and_start(site)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "database: cannot write" in check.stderr, check.stderr
    assert start.returncode != 0
    assert "cannot write" in start.stderr and "read-only" in start.stderr, start.stderr


def test_database_on_a_read_only_mount_refuses_to_start(site, small_disk):
    site.config["database"] = str(small_disk / "safehouse.db")
    site.start()
    site.stop()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    check, start = check_and_start(site)
    assert check.returncode == 1 and "Read-only file system" in check.stderr, check.stderr
    assert start.returncode != 0
    assert "Read-only file system" in start.stderr or "read-only" in start.stderr, start.stderr


def test_daemon_started_on_a_full_disk_still_sounds_sirens_and_says_why(site, small_disk):
    # A power cut on a full SD card: at the restart SQLite cannot even
    # create its -shm file. The gateway runs from memory, seeded from the
    # file, and writes everything there once space is back.
    site.config["database"] = str(small_disk / "safehouse.db")
    site.start()
    m = site.probe.mark()
    site.report("gas-kitchen", {"gas": True})
    gas = site.wait_alarm(since=m, **{"class": "gas", "state": "raised"})[0]
    site.stop()
    filler = fill(small_disk)
    m = site.probe.mark()
    site.start()
    wait_until(lambda: not store_status(site)["ok"], what="the store fault at start")
    site.wait_alarm(since=m, **{"class": "fault", "state": "raised", "rule": "store"})
    m = site.probe.mark()
    site.report("smoke-101", {"smoke": True})
    site.wait_siren("fire", since=m)
    fire = site.wait_alarm(since=m, **{"class": "fire", "state": "raised"})[0]
    assert fire.get("durable") is False, fire
    # The gas alarm of the first run was read from the file: still active.
    assert any(a["id"] == gas["id"] for a in site.alarms())
    assert fire["seq"] > gas["seq"] and fire["id"] > gas["id"]

    filler.unlink()
    wait_until(lambda: store_status(site)["ok"], what="the database to open once space is back")
    site.barrier()
    with sqlite3.connect(f"file:{site.db_path}?mode=ro", uri=True) as db:
        seqs = [r[0] for r in db.execute("SELECT seq FROM outbox ORDER BY seq")]
        classes = [r[0] for r in db.execute("SELECT class FROM alarms ORDER BY id")]
    assert seqs == list(range(1, len(seqs) + 1)), f"seq skipped or missing: {seqs}"
    assert "fire" in classes and "gas" in classes, classes
    # Reads come from the file again: the event log has this run's start.
    assert site.ctl("events", "--limit", "500").returncode == 0
