"""Modbus peers for the black-box tests: the simulator (modbus_sim.py, a real
pymodbus server in its own process) over TCP or over RTU on a socat pty
pair, and the fixtures that start and always stop them.

    def test_x(site, modbus_tcp):          # TCP server, units 1 and 2
    def test_y(site, modbus_rtu):          # RTU server on a pty pair, units 1 and 2
    def test_z(site, make_modbus_sim):     # anything else

The simulator exits when its stdin closes, so even a test runner that is
killed cannot leave one behind; socat is stopped by the fixture.
"""

import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from helpers import TIMEOUT, read_log, run_check, stop_process, wait_until

HERE = Path(__file__).resolve().parent
SIM = HERE / "modbus_sim.py"
PY = "/usr/bin/python3"
SOCAT = os.environ.get("SOCAT", shutil.which("socat") or "/usr/bin/socat")


class ModbusSim:
    """One modbus_sim.py process; every method is one command and its reply."""

    def __init__(self, workdir, units=(1, 2), tcp_port=None, rtu_device=None, size=100,
                 parity="N", baud=9600, name="sim"):
        assert (tcp_port is None) != (rtu_device is None), "TCP or RTU, one of them"
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.units = tuple(units)
        self.tcp_port = tcp_port
        self.rtu_device = rtu_device
        self.size = size
        self.parity = parity
        self.baud = baud
        self.logfile = self.dir / f"{name}.log"
        self.proc = None
        self.port = None
        self._lines = queue.Queue()

    def start(self):
        cmd = [PY, str(SIM), "--units", ",".join(str(u) for u in self.units),
               "--size", str(self.size)]
        if self.tcp_port is not None:
            cmd += ["--tcp", str(self.tcp_port)]
        else:
            cmd += ["--rtu", str(self.rtu_device), "--baud", str(self.baud),
                    "--parity", self.parity]
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True, bufsize=1)
        log.close()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._reply("the Modbus simulator's ready line")
        assert ready.get("ready"), f"modbus_sim did not start: {ready}"
        self.port = ready.get("port")
        return self

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _reply(self, what):
        try:
            line = self._lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()}")
        if line is None:
            raise AssertionError(f"modbus_sim exited (status {self.proc.poll()}) before "
                                 f"{what}; log:\n{self.log()}")
        return json.loads(line)

    def cmd(self, **command):
        assert self.proc is not None and self.proc.poll() is None, "modbus_sim is not running"
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        r = self._reply(f"the reply to {command}")
        assert r.get("ok"), f"modbus_sim refused {command}: {r.get('error')}"
        return r

    # -- data --
    def set(self, table, unit, address, values):
        if not isinstance(values, (list, tuple)):
            values = [values]
        self.cmd(cmd="set", table=table, unit=unit, address=address, values=list(values))

    def get(self, table, unit, address, count=1):
        return self.cmd(cmd="get", table=table, unit=unit, address=address,
                        count=count)["values"]

    def coil(self, unit, address):
        return self.get("co", unit, address)[0]

    # -- the device itself --
    def drop(self, unit):
        """The unit stops answering (requests to it time out)."""
        self.cmd(cmd="drop", unit=unit)

    def restore(self, unit):
        self.cmd(cmd="restore", unit=unit)

    def requests(self, unit):
        """Requests the unit has answered so far (reads and writes)."""
        return self.cmd(cmd="stats", unit=unit)["requests"]

    def stop(self):
        if self.proc is None:
            return None
        try:
            self.proc.stdin.close()  # the simulator leaves when stdin closes
        except OSError:
            pass
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGKILL)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log(self):
        return read_log(self.logfile)


class PtyPair:
    """socat joining two ptys, reached through symlinks in `workdir`: the
    simulator opens one end, the daemon the other, like the two ends of an
    RS-485 bus."""

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sim_end = self.dir / "ttySIM"
        self.gw_end = self.dir / "ttyGW"
        self.logfile = self.dir / "socat.log"
        self.proc = None

    def start(self):
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [SOCAT, "-d", "-d",
             f"pty,raw,echo=0,link={self.sim_end}",
             f"pty,raw,echo=0,link={self.gw_end}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"socat exited: {self.log()}")
            return self.sim_end.exists() and self.gw_end.exists()
        wait_until(ready, what="socat's pty links")
        return self

    def stop(self):
        rc = stop_process(self.proc)
        self.proc = None
        return rc

    def log(self):
        return read_log(self.logfile)


# --------------------------------------------------------------------------
# values and config


def f32_registers(value, word_order="big"):
    """The two registers of an IEEE 754 float; big word order puts the high
    word first (the contract's default)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo] if word_order == "big" else [lo, hi]


def tcp_bus(bus_id, port, **extra):
    bus = {"id": bus_id, "type": "tcp", "host": "127.0.0.1", "port": port}
    bus.update(FAST_BUS)
    bus.update(extra)
    return bus


def rtu_bus(bus_id, device, parity="N", baud=9600, **extra):
    bus = {"id": bus_id, "type": "rtu", "device": str(device), "baud": baud,
           "parity": parity, "data_bits": 8, "stop_bits": 1}
    bus.update(FAST_BUS)
    bus.update(extra)
    return bus


# Short timeouts and polls keep the suite fast; a missing device is noticed
# after timeout_ms * (retries + 1).
FAST_BUS = {"poll_ms": 100, "timeout_ms": 300, "retries": 1}


def use_modbus(site, buses, sensors, outputs=None, rules=None, **top):
    """Make `site` a Modbus site: these buses and sensors only (no MQTT
    sensor, so every fault and alarm is one of ours), the default MQTT siren
    plus `outputs`, and `rules` as the only rule file."""
    site.config["buses"] = list(buses)
    site.config["sensors"] = list(sensors)
    site.config["outputs"] = list(site.config["outputs"]) + list(outputs or [])
    site.config.update(top)
    if rules is not None:
        site.rules = {"site.rules": rules}
    return site


def modbus_status(site):
    """{(bus, unit): entry} from `safehousectl status --json`'s "modbus"."""
    return {(d["bus"], d["unit"]): d for d in site.status().get("modbus") or []}


def wait_device(site, bus, unit, state="ok", what=None, timeout=TIMEOUT, pred=None):
    """Wait until the daemon reports (bus, unit) in `state` (and pred(entry));
    return the entry."""
    def check():
        d = modbus_status(site).get((bus, unit))
        if d is not None and d.get("state") == state and (pred is None or pred(d)):
            return d
        return None
    return wait_until(check, timeout=timeout,
                      what=what or f"Modbus device {bus}/{unit} in state {state!r}")


def start_modbus_site(site, absent=()):
    """Start a site whose sensors are all Modbus ones: no zigbee2mqtt
    availability to publish; ready once every configured device answered,
    except the (bus, unit) pairs in `absent`.
    A config the daemon refuses fails at once, with --check's diagnostics,
    instead of after the start timeout."""
    site.write()
    r = run_check(site.config_path)
    if r.returncode != 0:
        raise AssertionError(f"safehoused --check refuses the test's config:\n"
                             f"{r.stdout}{r.stderr}")
    site.start(sensors_online=False)
    devices = set()
    for s in site.config["sensors"]:
        mb = s.get("modbus") or {}
        if "bus" in mb:
            devices.add((mb["bus"], mb.get("unit", 1)))
    for bus, unit in sorted(devices - set(absent)):
        wait_device(site, bus, unit, "ok", pred=lambda d: d.get("ok", 0) > 0)
    return site


# --------------------------------------------------------------------------
# fixtures (imported by the test modules that use them)


@pytest.fixture
def make_modbus_sim(tmp_path):
    """Factory: make_modbus_sim(units=(1, 2), tcp_port=0 | rtu_device=PATH, ...)
    -> a started ModbusSim; stopped at teardown, its log printed."""
    sims = []

    def make(**kw):
        kw.setdefault("name", f"sim{len(sims)}")
        sim = ModbusSim(tmp_path / "modbus", **kw)
        sims.append(sim)
        return sim.start()
    yield make
    for sim in sims:
        sim.stop()
        log = sim.log()
        if log.strip():
            print(f"----- {sim.logfile.name} -----")
            print(log[-5000:])


@pytest.fixture
def modbus_tcp(make_modbus_sim):
    """A Modbus TCP server (units 1 and 2) on a free loopback port (.port)."""
    return make_modbus_sim(units=(1, 2), tcp_port=0)


@pytest.fixture
def pty_pair(tmp_path):
    pair = PtyPair(tmp_path / "pty").start()
    yield pair
    pair.stop()


@pytest.fixture
def modbus_rtu(pty_pair, make_modbus_sim):
    """A Modbus RTU server (units 1 and 2, 9600 8N1) on one end of a pty pair;
    .gw_end is the device the daemon opens.

    8N1, not the 8E1 that Modbus RTU specifies: a pty carries bytes, not
    bits on a line, and this kernel refuses even parity on a pty
    (tcsetattr EINVAL with PARENB without PARODD), for the daemon too."""
    sim = make_modbus_sim(units=(1, 2), rtu_device=pty_pair.sim_end, parity="N")
    sim.gw_end = pty_pair.gw_end
    return sim


__all__ = ["ModbusSim", "PtyPair", "f32_registers", "tcp_bus", "rtu_bus", "use_modbus",
           "modbus_status", "wait_device", "start_modbus_site", "make_modbus_sim",
           "modbus_tcp", "pty_pair", "modbus_rtu"]
