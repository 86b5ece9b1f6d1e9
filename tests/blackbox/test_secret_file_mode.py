"""A config that holds a password is refused while group or others can read
it: by --check, at start, and at a reload (which keeps the running one)."""

import os
import signal

from helpers import base_config, errors_only, parse_diags, run_check, wait_until
from test_check import line_of, write_site

FIRE = {"smoke": True, "battery": 95}


def with_password(cfg):
    cfg["mqtt"]["username"] = "safehouse"
    cfg["mqtt"]["password"] = "change-me"
    return cfg


def test_check_refuses_a_password_file_others_can_read_naming_key_and_fix(tmp_path):
    path, text = write_site(tmp_path, with_password(base_config(1883)))
    os.chmod(path, 0o644)
    r = run_check(path)
    assert r.returncode == 1, r.stdout + r.stderr
    diags = errors_only(parse_diags(r.stderr))
    assert len(diags) == 1, r.stderr
    d = diags[0]
    assert os.path.basename(d["file"]) == "config.json"
    assert d["line"] == line_of(text, '"password"')
    assert d["msg"].startswith("mqtt.password: this file holds a password but is readable "
                               "by group or others (mode 0644)"), d["msg"]
    assert f"chmod 600 {os.path.realpath(path)}" in d["msg"], d["msg"]


def test_check_accepts_the_password_file_once_it_is_private(tmp_path):
    path, _ = write_site(tmp_path, with_password(base_config(1883)))
    os.chmod(path, 0o600)
    r = run_check(path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_accepts_a_world_readable_file_without_passwords(tmp_path):
    path, _ = write_site(tmp_path, base_config(1883))
    os.chmod(path, 0o644)
    r = run_check(path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_daemon_refuses_to_start_with_a_group_readable_password_file(site):
    with_password(site.config)
    site.write()
    os.chmod(site.config_path, 0o640)
    site.start(wait=False)
    assert site.wait_exit() == 1
    log = site.log()
    assert "mqtt.password: this file holds a password but is readable by group or others " \
           "(mode 0640)" in log, log
    assert "not starting" in log
    # It touched nothing: no database was created.
    assert not os.path.exists(site.db_path)


def test_reload_refuses_a_password_file_made_readable_and_keeps_running(site):
    with_password(site.config)
    site.write()
    os.chmod(site.config_path, 0o600)
    site.start()
    os.chmod(site.config_path, 0o644)
    log_before = len(site.log())
    site.send_signal(signal.SIGHUP)
    wait_until(lambda: "the running configuration and rules stay in use"
               in site.log()[log_before:], what="the reload to be refused")
    assert "mqtt.password: this file holds a password but is readable" in \
        site.log()[log_before:]
    assert site.alive()
    m = site.probe.mark()
    site.report("smoke-101", FIRE)
    site.wait_alarm(since=m, state="raised", **{"class": "fire"})
