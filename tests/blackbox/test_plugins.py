"""The plugins (gateway/plugin.h): safehoused loads the owner's panel
(safehouse-web.so: libmicrohttpd, GnuTLS) and the webhook transport
(safehouse-webhook.so: libcurl) only when the config uses them. A plugin
that cannot be loaded is said clearly, at the start and by --check, and
never costs the house its guard: the fire alarm still sounds the siren and
goes upstream, a webhook message waits in the outbox until a start with
the plugin sends it.

SAFEHOUSE_PLUGIN_DIR points the daemon at an empty directory (a package
whose plugin went missing); without it the daemon finds the plugins beside
itself in the build tree."""

import json
import os
import signal
import socket
import subprocess

import pytest

from helpers import SAFEHOUSED, TIMEOUT, free_port, wait_until

SMOKE = {"smoke": True, "battery": 95}


@pytest.fixture
def empty_dir(tmp_path):
    d = tmp_path / "no-plugins"
    d.mkdir()
    return d


def without_plugins(d):
    return dict(os.environ, SAFEHOUSE_PLUGIN_DIR=str(d))


def fire(site):
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    return m, site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]


def mapped(site):
    """The files the running daemon has mapped (its libraries)."""
    with open(f"/proc/{site.proc.pid}/maps") as f:
        return f.read()


def check(config_path, env):
    return subprocess.run([SAFEHOUSED, "-c", str(config_path), "--check"], capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, env=env)


def webhook_contacts(https, pki):
    return [{"id": "militia", "via": "upstream"},
            {"id": "owner", "via": "webhook", "url": https.url + "/hook", "cafile": pki["ca"]}]


def webhook_rows(site):
    reply = site.ctl_json("outbox", "--all")
    assert reply["ok"] is True
    return [r for r in reply["outbox"] if r["channel"] == "webhook"]


def test_a_house_without_panel_or_webhooks_never_loads_their_libraries(site):
    site.start()
    maps = mapped(site)
    for lib in ("libcurl", "libmicrohttpd", "safehouse-web.so", "safehouse-webhook.so"):
        assert lib not in maps, f"{lib} is mapped by a daemon whose config does not use it"


def test_the_panel_and_a_webhook_contact_load_their_plugins(site, https, pki):
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    site.config["contacts"] = webhook_contacts(https, pki)
    site.start()
    maps = mapped(site)
    for lib in ("safehouse-web.so", "safehouse-webhook.so", "libcurl", "libmicrohttpd"):
        assert lib in maps, f"{lib} is not mapped although the config uses it"


def test_missing_panel_plugin_is_said_and_the_fire_alarm_still_sounds_the_siren(
        site, empty_dir):
    port = free_port()
    site.config["web"] = {"listen": f"127.0.0.1:{port}"}
    site.env = without_plugins(empty_dir)
    site.start()
    wait_until(lambda: "the owner's panel needs safehouse-web.so" in site.log(),
               what="the log saying the panel's plugin is missing")
    line = [ln for ln in site.log().splitlines() if "needs safehouse-web.so" in ln][0]
    assert str(empty_dir) in line and "the owner's web panel is off" in line, line
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    m, alarm = fire(site)
    site.wait_siren("fire", since=m)
    site.wait_alert(since=m, to="militia", alarm=alarm["id"])


def test_check_warns_that_the_panel_plugin_is_missing_but_passes(site, empty_dir):
    # A warning, not an error: the unit runs --check before the daemon, and
    # the house must be guarded without its web page.
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    site.write()
    r = check(site.config_path, without_plugins(empty_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the owner's panel needs safehouse-web.so: not found" in r.stderr, r.stderr
    assert str(empty_dir) in r.stderr and "(warning)" in r.stderr, r.stderr


def test_check_says_nothing_of_plugins_when_they_load(site, https, pki):
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    site.config["contacts"] = webhook_contacts(https, pki)
    site.write()
    r = check(site.config_path, None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "safehouse-web" not in r.stderr and "safehouse-webhook" not in r.stderr, r.stderr


def test_a_broken_plugin_file_is_said_with_the_loader_reason(site, empty_dir):
    (empty_dir / "safehouse-web.so").write_text("not an ELF file\n")
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    site.env = without_plugins(empty_dir)
    site.start()
    wait_until(lambda: "the owner's panel needs safehouse-web.so" in site.log(),
               what="the log saying the panel's plugin cannot be loaded")
    line = [ln for ln in site.log().splitlines() if "needs safehouse-web.so" in ln][0]
    # dlerror()'s own words, with the file it tried.
    assert str(empty_dir / "safehouse-web.so") in line, line
    m, _ = fire(site)
    site.wait_siren("fire", since=m)


def test_missing_webhook_plugin_keeps_the_message_pending_until_a_start_with_it(
        site, https, pki, empty_dir):
    site.config["contacts"] = webhook_contacts(https, pki)
    site.env = without_plugins(empty_dir)
    site.start()
    m, alarm = fire(site)
    # The alarm's other ways still go.
    site.wait_siren("fire", since=m)
    site.wait_alert(since=m, to="militia", alarm=alarm["id"])
    wait_until(lambda: webhook_rows(site), what="the webhook row in the outbox")
    site.barrier()
    rows = webhook_rows(site)
    assert [r["state"] for r in rows] == ["pending"], rows
    assert "webhook contacts need safehouse-webhook.so" in rows[0].get("waiting", ""), rows
    text = site.ctl("status").stdout
    assert "webhook contacts need safehouse-webhook.so: not found" in text, text
    assert "webhook contacts need safehouse-webhook.so" in site.log()
    assert https.find(lambda r: r["path"] == "/hook") == []
    # The package repaired: the next start sends what waited.
    site.stop()
    site.env = None
    site.start()
    wait_until(lambda: https.find(lambda r: r["path"] == "/hook" and r["method"] == "POST"),
               what="the webhook POST after a start with the plugin")
    body = json.loads(https.find(lambda r: r["path"] == "/hook")[0]["body"])
    assert body["alarm"] == alarm["id"] and body["to"] == "owner"
    wait_until(lambda: [r["state"] for r in webhook_rows(site)] == ["delivered"],
               what="the webhook row delivered")


def test_a_reload_that_adds_a_webhook_contact_loads_its_plugin(site, https, pki):
    site.start()
    assert "libcurl" not in mapped(site)
    site.config["contacts"] = webhook_contacts(https, pki)
    site.write()
    log_before = len(site.log())
    site.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload: done" in site.log()[log_before:], what="the reload")
    assert "safehouse-webhook.so loaded" in site.log()[log_before:]
    m, alarm = fire(site)
    wait_until(lambda: https.find(lambda r: r["path"] == "/hook" and r["method"] == "POST"),
               what="the webhook POST of a contact added by a reload")
    body = json.loads(https.find(lambda r: r["path"] == "/hook")[0]["body"])
    assert body["alarm"] == alarm["id"] and body["to"] == "owner"
