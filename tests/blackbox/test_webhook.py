"""The webhook channel against a local HTTPS server with a test CA: the
real gateway/webhook.c on a real event loop, driven by tests/webhook_drive.c
(built beside safehoused), without the outbox. Each try's result is what
the outbox would record: delivered, retry or failed with a short detail."""

import json
import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest

from helpers import SAFEHOUSED, TIMEOUT, base_config, free_port, read_log, wait_until
from https_server import HookServer

DRIVE = os.environ.get("WEBHOOK_DRIVE", str(Path(SAFEHOUSED).parent / "webhook_drive"))
TOKEN = "123456:SECRET-test-token-abcdef"


@pytest.fixture
def camera():
    s = HookServer(camera_auth="admin:cam-pass").start()
    yield s
    s.stop()


class Drive:
    """webhook_drive on a config whose contacts are the given steps."""

    def __init__(self, tmp_path, contacts, zones=None):
        cfg = base_config(free_port())
        cfg.pop("rules", None)
        cfg["contacts"] = contacts
        for z in zones or []:
            next(x for x in cfg["zones"] if x["id"] == z["id"]).update(z)
        self.path = tmp_path / "site.json"
        self.path.write_text(json.dumps(cfg, ensure_ascii=False))
        os.chmod(self.path, 0o600)
        self.errpath = tmp_path / "drive.log"
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen([DRIVE, str(self.path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next_line() == "ready", read_log(self.errpath)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout=TIMEOUT):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from webhook_drive; log:\n{read_log(self.errpath)}")
        self.seen.append(line)
        return line

    def send(self, seq, contact, text, step=0, kind="alert", zone="-", alarm=7):
        self.proc.stdin.write(f"send {seq} {contact} {step} {kind} {zone} {alarm} {text}\n")
        self.proc.stdin.flush()
        assert self.next_line() == f"taken {seq}"

    def done(self, timeout=TIMEOUT):
        """The next done line as (seq, result, detail)."""
        while True:
            line = self.next_line(timeout)
            if line.startswith("done "):
                _, seq, result, *detail = line.split(" ", 3)
                return int(seq), result, detail[0] if detail else ""

    def log(self):
        return read_log(self.errpath)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


@pytest.fixture
def drive(tmp_path):
    made = []

    def make(contacts, zones=None):
        d = Drive(tmp_path, contacts, zones)
        made.append(d)
        return d
    yield make
    for d in made:
        rc = d.close()
        log = d.log()
        print(log[-5000:])
        assert rc == 0, f"webhook_drive exited {rc}"
        assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log


def telegram(url, pki, **extra):
    return {"id": "owner", "via": "webhook", "preset": "telegram", "url": url,
            "chat_id": -100123, "token": TOKEN, "cafile": str(pki["ca"]), **extra}


def test_telegram_message_is_delivered_with_chat_id_and_text(https, pki, drive):
    d = drive([telegram(https.url, pki)])
    d.send(1, "owner", 'Cháy! Phòng 101 "khói"')
    assert d.done() == (1, "delivered", "HTTP 200")
    (req,) = https.find(lambda r: r["method"] == "POST")
    assert req["path"] == f"/bot{TOKEN}/sendMessage"
    assert req["headers"]["content-type"] == "application/json"
    assert json.loads(req["body"]) == {"chat_id": "-100123", "text": 'Cháy! Phòng 101 "khói"'}


def test_ntfy_message_is_the_text_with_title_and_priority(https, pki, drive):
    d = drive([{"id": "owner", "via": "webhook", "preset": "ntfy",
                "url": https.url + "/house-alarms", "cafile": str(pki["ca"]), "priority": 4}])
    d.send(2, "owner", "Báo cháy tầng 1")
    assert d.done() == (2, "delivered", "HTTP 200")
    (req,) = https.find(lambda r: r["path"] == "/house-alarms")
    assert req["body"].decode() == "Báo cháy tầng 1"
    assert req["headers"]["priority"] == "4"
    assert req["headers"]["tags"] == "rotating_light"
    assert "authorization" not in req["headers"]


def test_generic_template_fills_in_json_escaped_values(https, pki, drive):
    d = drive([{"id": "owner", "via": "webhook", "url": https.url + "/hook",
                "cafile": str(pki["ca"]),
                "template": '{"msg": "${text}", "zone": "${zone_name}", "n": ${seq}}'}])
    d.send(3, "owner", 'say "hi"\\ now', zone="kitchen")
    assert d.done() == (3, "delivered", "HTTP 200")
    (req,) = https.find(lambda r: r["path"] == "/hook")
    assert json.loads(req["body"]) == {"msg": 'say "hi"\\ now', "zone": "Bếp chung", "n": 3}


def test_generic_without_template_posts_the_payload(https, pki, drive):
    d = drive([{"id": "owner", "via": "webhook", "url": https.url + "/hook",
                "cafile": str(pki["ca"])}])
    d.send(4, "owner", "text", zone="hall")
    assert d.done()[1] == "delivered"
    (req,) = https.find(lambda r: r["path"] == "/hook")
    assert json.loads(req["body"])["seq"] == 4


def test_wrong_ca_is_refused_with_a_tls_error_and_retried(https, pki, drive):
    d = drive([telegram(https.url, pki, cafile=str(pki["other_ca"]))])
    d.send(5, "owner", "fire")
    seq, result, detail = d.done()
    assert (seq, result) == (5, "retry")
    assert detail.startswith("TLS: "), detail
    assert "certificate" in detail
    assert not https.find(lambda r: True), "the request went to a server that was not verified"


def test_server_error_500_is_retried(https, pki, drive):
    d = drive([{"id": "owner", "via": "webhook", "url": https.url + "/fail500",
                "cafile": str(pki["ca"])}])
    d.send(6, "owner", "fire")
    assert d.done() == (6, "retry", "HTTP 500: internal")


def test_telegram_400_fails_with_the_reason_and_never_shows_the_token(https, pki, drive):
    d = drive([telegram(https.url + "/bad400", pki)])
    d.send(7, "owner", "fire")
    assert d.done() == (7, "failed", "HTTP 400: Bad Request: chat not found")
    d.close()
    assert TOKEN not in d.log()
    assert "SECRET" not in " ".join(d.seen)


def test_hanging_server_does_not_hold_up_another_message(https, pki, drive):
    d = drive([{"id": "slow", "via": "webhook", "url": https.url + "/hang",
                "cafile": str(pki["ca"]), "timeout_s": 3},
               {"id": "owner", "via": "webhook", "url": https.url + "/ok",
                "cafile": str(pki["ca"])}])
    d.send(8, "slow", "fire")
    wait_until(lambda: https.find(lambda r: r["path"] == "/hang"), what="the hanging request")
    d.send(9, "owner", "fire")
    assert d.done() == (9, "delivered", "HTTP 200")
    seq, result, detail = d.done()
    assert (seq, result) == (8, "retry")
    assert detail.startswith("timeout"), detail


def test_unreachable_server_is_retried(pki, drive):
    port = free_port()
    d = drive([{"id": "owner", "via": "webhook", "url": f"https://127.0.0.1:{port}/x",
                "cafile": str(pki["ca"])}])
    d.send(10, "owner", "fire")
    seq, result, detail = d.done()
    assert (seq, result) == (10, "retry")
    assert detail.startswith("connection: "), detail


def camera_zone(camera_url):
    return [{"id": "hall", "name": "Sảnh", "camera": {
        "snapshot_url": camera_url, "username": "admin", "password": "cam-pass"}}]


def test_camera_snapshot_follows_the_text_as_a_telegram_photo(https, pki, camera, drive):
    d = drive([telegram(https.url, pki)], zones=camera_zone(camera.url + "/camera.jpg"))
    d.send(11, "owner", "Cháy ở sảnh", zone="hall")
    assert d.done() == (11, "delivered", "HTTP 200")
    (photo,) = wait_until(lambda: https.find(lambda r: r["path"].endswith("/sendPhoto")),
                          what="sendPhoto")
    assert photo["path"] == f"/bot{TOKEN}/sendPhoto"
    assert photo["headers"]["content-type"].startswith("multipart/form-data")
    body = photo["body"]
    assert b'name="chat_id"\r\n\r\n-100123' in body
    assert b'filename="snapshot.jpg"' in body
    assert bytes.fromhex("ffd8ffe0") in body
    assert "Sảnh".encode() in body  # the caption names the zone
    assert camera.find(lambda r: r["headers"].get("authorization", "").startswith("Basic "))


def test_dead_camera_does_not_delay_the_text(https, pki, camera, drive):
    d = drive([telegram(https.url, pki)], zones=camera_zone(camera.url + "/hang"))
    d.send(12, "owner", "fire", zone="hall")
    assert d.done() == (12, "delivered", "HTTP 200")
    # The camera was asked and had not answered when the text went out.
    assert camera.find(lambda r: r["path"] == "/hang")
    wait_until(lambda: "no camera snapshot" in d.log(), what="the camera to time out")
    assert not https.find(lambda r: r["path"].endswith("/sendPhoto"))


def test_zalo_message_carries_the_access_token_header(https, pki, drive):
    d = drive([{"id": "owner", "via": "webhook", "preset": "zalo", "url": https.url,
                "user_id": "8765", "token": TOKEN, "cafile": str(pki["ca"])}])
    d.send(13, "owner", "Cháy")
    assert d.done() == (13, "delivered", "HTTP 200")
    (req,) = https.find(lambda r: r["path"] == "/v3.0/oa/message/cs")
    assert req["headers"]["access_token"] == TOKEN
    assert json.loads(req["body"]) == {"recipient": {"user_id": "8765"},
                                       "message": {"text": "Cháy"}}
