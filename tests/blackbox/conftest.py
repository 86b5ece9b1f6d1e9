"""Fixtures of the black-box suite: every test gets its own mosquitto on a
free loopback port, an MQTT probe that records everything on it, and a Site
(a safehoused with config, rules, database and socket in the test's temp
directory). Everything started here is stopped in the finalizers, also when
the test fails; the daemon's and the broker's logs are printed then, so that
pytest shows them with the failure."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import (MOSQUITTO, SAFEHOUSECTL, SAFEHOUSED, Broker, MqttProbe, Site,  # noqa: E402
                     sanitizer_report)
# Modbus simulators (TCP, RTU on a socat pty pair): make_modbus_sim,
# modbus_tcp, pty_pair, modbus_rtu.
from modbus_helpers import make_modbus_sim, modbus_rtu, modbus_tcp, pty_pair  # noqa: E402,F401


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "upstream_outage: stops and restarts a second (upstream) mosquitto during the test")
    config.addinivalue_line(
        "markers", "package: builds the Debian packages (tests/package/build.sh; slow)")


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    missing = [p for p in (SAFEHOUSED, SAFEHOUSECTL, MOSQUITTO) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"missing executables: {missing} (build with cmake, or set SAFEHOUSED, "
                    f"SAFEHOUSECTL, MOSQUITTO)", pytrace=False)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def probe(broker):
    p = MqttProbe(broker.port).connect()
    yield p
    p.close()


@pytest.fixture
def site(tmp_path, broker, probe):
    s = Site(tmp_path / "site", broker, probe)
    yield s
    rc = s.close()
    log = s.log()
    if log:
        print(f"----- safehoused log ({s.logfile}) -----")
        print(log[-20000:])
    # Every test ends with a clean stop: a crash, a leak found at exit by a
    # sanitizer build, or a sanitizer report anywhere fails the test.
    report = sanitizer_report(log)
    if report:
        pytest.fail(f"sanitizer report in the daemon log: {report}", pytrace=False)
    if rc not in (None, 0):
        pytest.fail(f"safehoused exited with status {rc} on SIGTERM at teardown",
                    pytrace=False)


@pytest.fixture
def running_site(site):
    """The default site, started and ready."""
    return site.start()


@pytest.fixture
def nats_cluster(tmp_path):
    """The commune broker as a 3-node nats-server cluster (nats_cluster.py),
    started and carrying MQTT QoS 1; stopped (all of it) after the test."""
    from nats_cluster import NATS_SERVER, NatsCluster
    if not os.access(NATS_SERVER, os.X_OK):
        pytest.fail(f"missing executable {NATS_SERVER} (Debian package nats-server; "
                    f"deploy/install-deps.sh installs it)", pytrace=False)
    c = NatsCluster(tmp_path / "nats")
    try:
        c.start()
        print(f"NATS cluster ready in {c.start_s:.2f} s")
        yield c
    finally:
        c.stop()
        print(c.logs_tail(6000))


@pytest.fixture
def pg(tmp_path):
    """A private PostgreSQL server (tests/blackbox/pg_server.py), stopped
    after the test. Its absence fails the test: tests/run.sh installs it."""
    from pg_server import PgServer, require
    require()
    p = PgServer(tmp_path / "pg")
    print(f"PostgreSQL started in {p.start_s:.2f} s")
    yield p
    log = p.log()
    p.stop()
    print(f"----- postgres log -----\n{log[-5000:]}")


@pytest.fixture
def sim(broker):
    """Many gateways' upstream feeds on the test's broker
    (station_helpers.GatewaySim)."""
    from station_helpers import GatewaySim
    s = GatewaySim(broker.port)
    yield s
    s.close()


# A local HTTPS server for webhook tests (https_server.py), with its own test
# CA (openssl) and a second, unrelated CA for the refusal cases. A test file
# may define its own `pki` (test_upstream_tls.py does, for the broker's).
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    from https_server import make_ca
    d = tmp_path_factory.mktemp("pki")
    ca, cert, key = make_ca(d, "ca")
    other_ca, _, _ = make_ca(d, "other")
    return {"ca": str(ca), "cert": cert, "key": key, "other_ca": str(other_ca)}


@pytest.fixture
def https(pki):
    from https_server import HookServer
    s = HookServer(pki["cert"], pki["key"]).start()
    yield s
    s.stop()
