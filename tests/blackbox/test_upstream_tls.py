"""SECURED UPSTREAM: the militia link over TLS, with a login kept in a
private credentials file.

A test CA, a server certificate for "localhost" and a client certificate
are made with openssl at test time. The upstream mosquitto has a TLS
listener (the daemon's) and a plain loopback listener for the test's own
receiver. The daemon is given the host name "localhost", so the name is
resolved off the event loop and the certificate is checked against it.
"""

import json
import os
import subprocess

import pytest

from helpers import (Broker, MqttProbe, errors_only, free_port, parse_diags, run_check,
                     wait_until)

SMOKE = {"smoke": True, "battery": 95}
USER = "site-nt1"
PASSWORD = "Pw-4f9c2e-never-shown"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN={name}", cwd=d)


def make_cert(d, name, ca, san=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", str(ext),
            cwd=d)
    os.chmod(d / f"{name}.key", 0o600)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "test-ca")
    make_ca(d, "other-ca")
    make_cert(d, "localhost", "test-ca", san="DNS:localhost,IP:127.0.0.1")
    make_cert(d, "test-site", "test-ca")
    return d


class TlsUpstream:
    """The militia's broker: TLS for the daemon (password login; a client
    certificate too with require_cert), plain loopback for the receiver."""

    def __init__(self, workdir, pki, require_cert=False):
        workdir.mkdir(parents=True, exist_ok=True)
        pwfile = workdir / "passwd"
        pwfile.write_text("")
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), USER, PASSWORD], check=True)
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "receiver", "rx"], check=True)
        os.chmod(pwfile, 0o600)
        self.plain_port = free_port()
        conf = [f"cafile {pki}/test-ca.crt", f"certfile {pki}/localhost.crt",
                f"keyfile {pki}/localhost.key",
                f"require_certificate {'true' if require_cert else 'false'}",
                f"listener {self.plain_port} 127.0.0.1",
                "per_listener_settings false", "allow_anonymous false",
                f"password_file {pwfile}"]
        if os.geteuid() == 0:
            # mosquitto would drop to user "mosquitto", who cannot read our
            # private temp directory.
            conf.append("user root")
        self.broker = Broker(workdir, listener_conf=conf)
        self.rx = None

    def start(self):
        self.broker.start()
        # Anonymous login refused: the daemon's success proves its login.
        self.rx = MqttProbe(self.plain_port, topics=["safehouse/#"])
        self.rx.client.username_pw_set("receiver", "rx")
        self.rx.connect()
        return self

    def stop(self):
        if self.rx:
            self.rx.close()
        if self.broker.proc:
            self.broker.stop()


@pytest.fixture
def make_upstream(tmp_path, pki):
    made = []

    def make(require_cert=False):
        u = TlsUpstream(tmp_path / f"upstream{len(made)}", pki, require_cert).start()
        made.append(u)
        return u
    yield make
    for u in made:
        print("----- upstream mosquitto log -----")
        print(u.broker.log()[-3000:])
        u.stop()


def write_credentials(site, mode=0o600, entries=None):
    path = site.dir / "credentials.json"
    site.dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries or {"upstream": {"username": USER,
                                                        "password": PASSWORD}}))
    os.chmod(path, mode)
    site.config["credentials"] = "credentials.json"
    return path


def use_tls_upstream(site, upstream, pki, ca="test-ca"):
    site.config["upstream"] = {"host": "localhost", "port": upstream.broker.port,
                               "cafile": str(pki / f"{ca}.crt")}
    write_credentials(site)


def raise_fire(site):
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    site.wait_siren("fire", since=m)


def test_upstream_over_tls_with_a_test_ca_delivers_the_alarm_feed(site, make_upstream, pki):
    up = make_upstream()
    use_tls_upstream(site, up, pki)
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["mqtt"]["upstream"], what="the TLS upstream link")
    assert "mqtt upstream: connected to localhost:%d (TLS)" % up.broker.port in site.log()
    raise_fire(site)
    alarm = site.wait_alarm(probe=up.rx, state="raised")[0]
    assert alarm["sensor"] == "smoke-101"
    site.wait_alert(probe=up.rx, to="militia", alarm=alarm["id"])


def test_upstream_password_never_appears_in_log_status_json_or_check(site, make_upstream, pki):
    up = make_upstream()
    use_tls_upstream(site, up, pki)
    site.config["log_level"] = "debug"
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["mqtt"]["upstream"], what="the TLS upstream link")
    raise_fire(site)
    site.wait_alarm(probe=up.rx, state="raised")
    shown = [site.log(), site.ctl("status").stdout, site.ctl("status", json_out=True).stdout,
             run_check(site.config_path).stdout + run_check(site.config_path).stderr]
    shown += [m.payload.decode(errors="replace") for m in up.rx.select()]
    shown += [m.payload.decode(errors="replace") for m in site.probe.select()]
    assert USER in shown[0] or "upstream" in shown[1]  # they did show something
    for text in shown:
        assert PASSWORD not in text


def test_upstream_with_a_wrong_ca_says_certificate_verify_failed_and_alarms_wait(
        site, make_upstream, pki):
    up = make_upstream()
    use_tls_upstream(site, up, pki, ca="other-ca")
    site.start(upstream_local=False)
    wait_until(lambda: "certificate verify failed" in
               (site.status()["mqtt"].get("upstream_error") or ""),
               what="the TLS failure in status --json")
    assert site.status()["mqtt"]["upstream_error"] == "TLS: certificate verify failed"
    assert "upstream: TLS: certificate verify failed" in site.ctl("status").stdout
    assert f"mqtt upstream: localhost:{up.broker.port}: TLS: certificate verify failed" \
        in site.log()
    raise_fire(site)
    wait_until(lambda: site.status()["outbox_pending"] >= 2, what="alarm and alert queued")
    assert site.alive() and up.rx.select("safehouse/test-site/alarm") == []
    # Broker settings are read at start (a reload says they wait for a
    # restart): fix the CA, restart, and what waited arrives.
    assert site.stop() == 0
    site.config["upstream"]["cafile"] = str(pki / "test-ca.crt")
    site.start(upstream_local=False)
    alarm = site.wait_alarm(probe=up.rx, state="raised")[0]
    assert alarm["sensor"] == "smoke-101"
    wait_until(lambda: site.status()["outbox_pending"] == 0, what="the outbox drained")


def test_upstream_with_a_client_certificate_connects_to_a_broker_requiring_one(
        site, make_upstream, pki):
    up = make_upstream(require_cert=True)
    use_tls_upstream(site, up, pki)
    site.config["upstream"]["certfile"] = str(pki / "test-site.crt")
    site.config["upstream"]["keyfile"] = str(pki / "test-site.key")
    site.start(upstream_local=False)
    raise_fire(site)
    assert site.wait_alarm(probe=up.rx, state="raised")[0]["sensor"] == "smoke-101"


def test_upstream_without_the_client_certificate_is_refused_by_such_a_broker(
        site, make_upstream, pki):
    up = make_upstream(require_cert=True)
    use_tls_upstream(site, up, pki)
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["mqtt"].get("upstream_error"),
               what="a reason for the link being down")
    st = site.status()["mqtt"]
    # OpenSSL's words when it read the broker's alert before the close,
    # ours when it did not (which of the two is a race on the socket).
    assert st["upstream_error"] in (
        "TLS: tlsv13 alert certificate required",
        "TLS: closed by the broker before it accepted us "
        "(does it require a client certificate?)"), st["upstream_error"]
    assert not st["upstream"]
    assert site.alive()


def test_check_refuses_a_client_key_others_can_read(site, pki, tmp_path):
    key = tmp_path / "client.key"
    key.write_bytes((pki / "test-site.key").read_bytes())
    os.chmod(key, 0o644)
    site.config["upstream"] = {"host": "localhost", "port": 8883,
                               "cafile": str(pki / "test-ca.crt"),
                               "certfile": str(pki / "test-site.crt"), "keyfile": str(key)}
    site.write()
    r = run_check(site.config_path)
    assert r.returncode == 1
    diags = errors_only(parse_diags(r.stderr))
    assert len(diags) == 1, r.stderr
    assert diags[0]["msg"].startswith(
        f"upstream.keyfile: {key} is a private key but is readable by group or others "
        "(mode 0644)"), diags[0]["msg"]
    assert f"chmod 600 {key}" in diags[0]["msg"]


# ---- the credentials file -------------------------------------------------


def test_check_refuses_a_credentials_file_with_mode_0644_naming_file_and_reason(site):
    path = write_credentials(site, mode=0o644)
    site.config["upstream"] = {"host": "127.0.0.1", "password": "credentials:upstream"}
    site.write()
    r = run_check(site.config_path)
    assert r.returncode == 1, r.stderr
    diags = errors_only(parse_diags(r.stderr))
    # One error: the password that refers to it is not reported again.
    assert len(diags) == 1, r.stderr
    assert diags[0]["msg"].startswith(
        f"credentials: {path} holds passwords but is readable by group or others "
        "(mode 0644); safehoused refuses it: run chmod 600 {path}".format(path=path)), r.stderr
    assert PASSWORD not in r.stdout + r.stderr


def test_daemon_refuses_to_start_with_a_credentials_file_with_mode_0644(site):
    path = write_credentials(site, mode=0o644)
    site.config["upstream"] = {"host": "127.0.0.1"}
    site.start(wait=False)
    assert site.wait_exit() == 1
    log = site.log()
    assert f"credentials: {path} holds passwords but is readable by group or others " \
           "(mode 0644)" in log, log
    assert "not starting" in log
    assert not os.path.exists(site.db_path)


def test_check_accepts_a_world_readable_config_whose_password_is_in_credentials(site):
    write_credentials(site, entries={"militia-link": "s3cret-value"})
    site.config["upstream"] = {"host": "127.0.0.1", "username": "nt1",
                               "password": "credentials:militia-link"}
    site.write()
    os.chmod(site.config_path, 0o644)
    r = run_check(site.config_path)
    assert r.returncode == 0, r.stderr


def test_check_names_a_missing_credentials_entry_without_showing_secrets(site):
    path = write_credentials(site, entries={"upstream": {"username": "u", "password": "p4ss-x"}})
    site.config["upstream"] = {"host": "127.0.0.1", "username": "nt1",
                               "password": "credentials:upstrem"}
    site.write()
    r = run_check(site.config_path)
    assert r.returncode == 1
    diags = errors_only(parse_diags(r.stderr))
    assert [d["msg"] for d in diags] == [
        f'upstream.password: {path} has no entry "upstrem"'], r.stderr
    assert "p4ss-x" not in r.stdout + r.stderr


def test_check_reports_a_broken_credentials_file_by_line_without_its_text(site):
    path = site.dir / "credentials.json"
    site.dir.mkdir(parents=True, exist_ok=True)
    path.write_text('{\n  "upstream": "hunter2-secret",\n  oops\n}\n')
    os.chmod(path, 0o600)
    site.config["credentials"] = "credentials.json"
    site.write()
    r = run_check(site.config_path)
    assert r.returncode == 1
    assert f"credentials: {path}: invalid JSON at line 3" in r.stderr, r.stderr
    assert "hunter2" not in r.stdout + r.stderr
