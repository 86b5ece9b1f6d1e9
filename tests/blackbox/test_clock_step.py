"""A wall clock that steps back: on a board without a battery-backed clock,
NTP steps the clock when it first syncs, by hours if need be. Modbus polling
and the store's batching time their waits on CLOCK_MONOTONIC, so they carry
on through the step instead of waiting out its length.

The daemon runs with clockstep.c preloaded (built here with cc): its wall
clock is the real one plus the offset in a file the test rewrites, and a
timed wait on the default clock behaves as the kernel makes it behave
across a step (libfaketime cannot show this: see clockstep.c).
"""

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from helpers import TIMEOUT, wait_until
from modbus_helpers import start_modbus_site, tcp_bus, use_modbus

HERE = Path(__file__).resolve().parent
STEP_S = 3600


def build_shim(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the clock-step shim")
    out = tmp_path / "clockstep.so"
    r = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out),
                        str(HERE / "clockstep.c"), "-ldl", "-lpthread"],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build the shim:\n{r.stderr}"
    return out


def readings(site, value):
    """Rows of the events table for heat-wired at this value: (at_ms,)."""
    db = sqlite3.connect(site.db_path, timeout=5)
    try:
        return db.execute("SELECT at_ms FROM events WHERE sensor = 'heat-wired'"
                          " AND type = 'reading' AND value = ?", (value,)).fetchall()
    finally:
        db.close()


# A batch of nothing but telemetry (this temperature) commits 60 s after its
# first write (gateway/store.c, TELEMETRY_MS: the SD card's sake), so the
# store's writer sits in a minute-long timed wait across the step.
TELEMETRY_WAIT_S = 90


def wait_reading(site, value, timeout=TIMEOUT):
    return wait_until(lambda: readings(site, value), timeout=timeout,
                      what=f"a reading of {value} in the events table")[0][0]


def test_modbus_polling_and_store_batching_carry_on_after_the_wall_clock_steps_back(
        modbus_tcp, site, tmp_path):
    sim = modbus_tcp
    offset = tmp_path / "clock-offset"
    offset.write_text("0\n")
    env = dict(os.environ, CLOCKSTEP_FILE=str(offset))
    env["LD_PRELOAD"] = " ".join(p for p in (os.environ.get("LD_PRELOAD"),
                                             str(build_shim(tmp_path))) if p)
    # An ASan build wants its runtime first; the shim only wraps clocks.
    env["ASAN_OPTIONS"] = ":".join(p for p in (os.environ.get("ASAN_OPTIONS"),
                                               "verify_asan_link_order=0") if p)
    site.env = env

    sim.set("ir", 1, 0, 20)
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        {"id": "heat-wired", "name": "heat-wired", "kind": "heat", "zone": "kitchen",
         "modbus": {"bus": "tcp0", "unit": 1, "input_register": 0}},
    ])
    start_modbus_site(site)
    before = wait_reading(site, 20)
    assert abs(before - time.time() * 1000) < 60_000, "before the step: the real time"

    # A new value, read by the daemon (two more requests answered) and so in
    # the store's open batch, then the step: both the bus thread and the
    # store's writer are inside a timed wait when the clock goes back.
    sim.set("ir", 1, 0, 30)
    n = sim.requests(1)
    wait_until(lambda: sim.requests(1) >= n + 2, what="the daemon to read the new value")
    offset.write_text(f"-{STEP_S}\n")

    # The batch open at the step reaches the disk.
    wait_reading(site, 30, timeout=TELEMETRY_WAIT_S)
    # Polling carries on: the simulator keeps being asked.
    n = sim.requests(1)
    wait_until(lambda: sim.requests(1) >= n + 10, timeout=TIMEOUT,
               what="10 more polls after the wall clock stepped back an hour")
    # And a later batch reaches the disk too.
    sim.set("ir", 1, 0, 40)
    after = wait_reading(site, 40, timeout=TELEMETRY_WAIT_S)
    # Not vacuous: the daemon did live an hour back when it stored it.
    assert time.time() * 1000 - after > (STEP_S - 60) * 1000, \
        "the daemon's wall clock did not step back: the shim is not in effect"
    site.alive_or_raise()
