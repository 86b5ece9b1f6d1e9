"""The GSM modem module (gateway/modem.c) against a simulated SIM800 and EC25
on a socat pty pair (modem_sim.py), through tests/modem_drive.c: the
real module, on a real event loop, on a real serial port."""

import os
import queue
import subprocess
import threading
import time

import pytest

from helpers import SAFEHOUSED, wait_until
from modem_sim import ModemSim, encode_deliver

DRIVE = os.path.join(os.path.dirname(SAFEHOUSED), "modem_drive")
TIMEOUT = max(20, 2 * float(os.environ.get("SAFEHOUSE_TEST_TIMEOUT", "10")))
VN = "BÁO CHÁY: Phòng 101 - Nhà trọ Minh Sơn"
PHONE = "+84901234567"
OWNER = "+84907654321"


class Drive:
    """modem_drive: commands in on stdin, events out on stdout."""

    def __init__(self, device, tmp, ring_s=5, check_s=2, pin_file=None):
        args = [DRIVE, "--device", device, "--ring-s", str(ring_s), "--check-s", str(check_s),
                "--debug"]
        if pin_file:
            args += ["--pin-file", pin_file]
        self.log_path = os.path.join(str(tmp), "modem_drive.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, encoding="utf-8")
        self.lines = []
        self._q = queue.Queue()
        self._seq = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait(self, pred, what, timeout=TIMEOUT):
        """The first line (seen before or coming) that pred accepts."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if pred(line):
                return line
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {what}; got {self.lines}"
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"modem_drive exited before {what}; got {self.lines}"
            self.lines.append(line)
            if pred(line):
                return line

    def fault(self, text):
        return self.wait(lambda ln: ln == f"fault {text}", f"fault {text}")

    def sms(self, number, text):
        self._seq += 1
        self.proc.stdin.write(f"sms {number} {text}\n")
        self.proc.stdin.flush()
        return self._seq

    def call(self, number):
        self._seq += 1
        self.proc.stdin.write(f"call {number}\n")
        self.proc.stdin.flush()
        return self._seq

    def done(self, seq, timeout=TIMEOUT):
        """(RESULT, detail) of try seq."""
        line = self.wait(lambda ln: ln.startswith(f"done {seq} "), f"done {seq}", timeout)
        parts = line.split(" ", 4)
        return parts[3], parts[4] if len(parts) > 4 else ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        assert self.proc.returncode == 0, f"modem_drive exited {self.proc.returncode}"

    def logged(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


@pytest.fixture
def rig(tmp_path):
    """rig(personality, **sim settings, drive options) -> (sim, drive)."""
    made = []

    def make(personality="sim800", start_drive=True, drive_opts=None, **settings):
        sim = ModemSim(tmp_path, personality)
        for k, v in settings.items():
            setattr(sim, k, v)
        sim.start()
        made.append(sim)
        drive = None
        if start_drive:
            drive = Drive(sim.device, tmp_path, **(drive_opts or {}))
            made.append(drive)
        return sim, drive

    yield make
    for thing in reversed(made):
        thing.stop()


def after(commands, first, then):
    """Is a command starting with `then` sent after the last one starting with `first`?"""
    idx = [i for i, c in enumerate(commands) if c.startswith(first)]
    return bool(idx) and any(c.startswith(then) for c in commands[idx[-1] + 1:])


@pytest.mark.parametrize("personality", ["sim800", "ec25"])
def test_ascii_sms_goes_as_gsm7_and_is_delivered(rig, personality):
    sim, drive = rig(personality)
    drive.fault("none")
    seq = drive.sms(PHONE, "Fire in room 101 @ 10:05 [test]")
    assert drive.done(seq) == ("DELIVERED", "sent")
    assert sim.sms == [(PHONE, "Fire in room 101 @ 10:05 [test]")]
    assert sim.parts[0]["dcs"] == 0x00  # GSM 7-bit


@pytest.mark.parametrize("personality", ["sim800", "ec25"])
def test_vietnamese_sms_arrives_exactly_as_written(rig, personality):
    sim, drive = rig(personality)
    drive.fault("none")
    seq = drive.sms(PHONE, VN)
    assert drive.done(seq) == ("DELIVERED", "sent")
    assert sim.sms == [(PHONE, VN)]
    assert sim.parts[0]["dcs"] == 0x08  # UCS-2


def test_300_character_vietnamese_message_is_split_and_reassembled(rig):
    sim, drive = rig()
    text = (VN + ". ") * 8
    text = text[:300]
    assert len(text) == 300
    drive.fault("none")
    seq = drive.sms(PHONE, text)
    assert drive.done(seq) == ("DELIVERED", "sent in 5 parts")
    assert len(sim.parts) == 5
    assert {p["ref"] for p in sim.parts} == {sim.parts[0]["ref"]}
    assert [p["seq"] for p in sim.parts] == [1, 2, 3, 4, 5]
    assert all(len(p["text"]) <= 67 for p in sim.parts)
    assert sim.sms == [(PHONE, text)]


@pytest.mark.parametrize("personality", ["sim800", "ec25"])
def test_answered_call_is_delivered_and_hung_up(rig, personality):
    sim, drive = rig(personality)
    drive.fault("none")
    seq = drive.call(PHONE)
    assert drive.done(seq) == ("DELIVERED", "answered")
    assert sim.calls == [PHONE]
    assert after(sim.commands, "ATD", "ATH")


@pytest.mark.parametrize("outcome,detail", [
    ("busy", "busy"),
    ("no answer", "no answer"),
    ("no carrier", "no carrier (refused or cut)"),
    ("ring", "no answer in 5 s"),
])
def test_unanswered_call_is_retried_and_hung_up(rig, outcome, detail):
    sim, drive = rig(call_outcome=outcome)
    drive.fault("none")
    seq = drive.call(PHONE)
    assert drive.done(seq) == ("RETRY", detail)
    assert after(sim.commands, "ATD", "ATH")


def test_transient_cms_error_is_retried_and_a_refused_number_fails(rig):
    sim, drive = rig(cms_errors=[500, 28])
    drive.fault("none")
    seq = drive.sms(PHONE, "one")
    assert drive.done(seq) == ("RETRY", "+CMS ERROR 500 (part 1 of 1)")
    seq = drive.sms(PHONE, "two")
    assert drive.done(seq) == ("FAILED", "+CMS ERROR 28 (part 1 of 1)")
    seq = drive.sms(PHONE, "three")
    assert drive.done(seq) == ("DELIVERED", "sent")
    assert sim.sms == [(PHONE, "three")]


def test_more_than_16_tries_at_once_are_refused_and_the_rest_all_delivered(rig):
    sim, drive = rig()
    drive.fault("none")
    # one write: the driver takes all 17 in one go, before any result
    drive.proc.stdin.write("".join(f"sms {PHONE} n{i}\n" for i in range(1, 18)))
    drive.proc.stdin.flush()
    drive.wait(lambda ln: ln == "refused 17 sms -11", "the 17th refused (-EAGAIN)")
    for seq in range(1, 17):
        assert drive.done(seq) == ("DELIVERED", "sent")
    assert sorted(t for _, t in sim.sms) == sorted(f"n{i}" for i in range(1, 17))


def test_a_number_that_is_not_one_fails_without_the_modem(rig):
    sim, drive = rig()
    drive.fault("none")
    seq = drive.sms("+84-90", "x")
    assert drive.done(seq) == ("FAILED", 'invalid phone number "+84-90"')
    seq = drive.call("12ab")
    assert drive.done(seq) == ("FAILED", 'invalid phone number "12ab"')
    assert not any(c.startswith(("AT+CMGS", "ATD")) for c in sim.commands)


def test_no_sim_is_a_fault_and_sends_are_retried(rig):
    sim, drive = rig(sim="absent")
    drive.fault("modem: no SIM")
    seq = drive.sms(PHONE, "x")
    assert drive.done(seq) == ("RETRY", "modem: no SIM")
    assert sim.sms == []


@pytest.mark.parametrize("personality", ["sim800", "ec25"])
def test_no_network_is_a_fault_until_the_modem_registers(rig, personality):
    sim, drive = rig(personality, registered=False)
    drive.fault("modem: no network")
    seq = drive.sms(PHONE, "x")
    assert drive.done(seq) == ("RETRY", "modem: no network")
    sim.registered = True
    drive.fault("none")
    seq = drive.sms(PHONE, "y")
    assert drive.done(seq) == ("DELIVERED", "sent")


def test_creg_urc_reports_a_lost_network_between_checks(rig):
    sim, drive = rig(drive_opts={"check_s": 3600})
    drive.fault("none")
    sim.registered = False
    sim.urc("+CREG: 0")
    drive.fault("modem: no network")


def test_urc_in_the_middle_of_cmgs_is_handled(rig):
    sim, drive = rig()
    drive.fault("none")
    # stored and announced (+CMTI) between the PDU and the +CMGS reply
    sim.sms_in_cmgs = (OWNER, "OK")
    seq = drive.sms(PHONE, "Fire in room 101")
    assert drive.done(seq) == ("DELIVERED", "sent")
    drive.wait(lambda ln: ln == f"sms-in {OWNER} OK", "the reply read")
    wait_until(lambda: 1 in sim.deleted, what="the SMS deleted")
    assert after(sim.commands, "AT+CMGS", "AT+CMGR=1")
    assert after(sim.commands, "AT+CMGR=1", "AT+CMGD=1")


def test_incoming_vietnamese_reply_is_read_and_deleted(rig):
    sim, drive = rig()
    drive.fault("none")
    idx = sim.incoming_sms(OWNER, "Đã nhận, đang đến")
    drive.wait(lambda ln: ln == f"sms-in {OWNER} Đã nhận, đang đến", "the reply")
    wait_until(lambda: idx in sim.deleted, what="the SMS deleted")


def test_a_reply_in_two_parts_is_one_reply(rig):
    sim, drive = rig()
    drive.fault("none")
    first, second = "Đã nhận báo cháy ở phòng 101, ", "đội dân phòng đang đến."
    sim.incoming_sms(OWNER, second, part=(9, 2, 2))  # the network may swap them
    i2 = sim.incoming_sms(OWNER, first, part=(9, 2, 1))
    drive.wait(lambda ln: ln.startswith("sms-in"), "the reply")
    wait_until(lambda: i2 in sim.deleted, what="both parts deleted")
    drive.done(drive.sms(PHONE, "marker"))  # what came before it has been printed
    assert [ln for ln in drive.lines if ln.startswith("sms-in")] == \
        [f"sms-in {OWNER} {first}{second}"]


def test_sms_stored_before_start_is_read(rig):
    sim, _ = rig(start_drive=False)
    sim.storage[7] = encode_deliver(OWNER, "1")
    drive = Drive(sim.device, os.path.dirname(sim.device))
    try:
        drive.wait(lambda ln: ln == f"sms-in {OWNER} 1", "the stored SMS")
        wait_until(lambda: 7 in sim.deleted, what="the SMS deleted")
    finally:
        drive.stop()


def test_incoming_call_is_rejected_and_reported_once(rig):
    sim, drive = rig()
    drive.fault("none")
    sim.incoming_call(OWNER)
    drive.wait(lambda ln: ln == f"call-in {OWNER}", "the call")
    assert "ATH" in sim.commands
    # a RING of the same call that crossed the ATH is not a new call
    sim.urc("RING")
    sim.urc(f'+CLIP: "{OWNER}",145,"",0,"",0')
    seq = drive.sms(PHONE, "marker")
    drive.done(seq)
    assert sum(1 for ln in drive.lines if ln.startswith("call-in")) == 1


def test_unplug_and_replug_recovers(rig):
    sim, drive = rig()
    drive.fault("none")
    sim.unplug()
    drive.fault("modem: not connected")
    seq = drive.sms(PHONE, "while unplugged")
    assert drive.done(seq) == ("RETRY", "modem: not connected")
    sim.replug()
    drive.wait(lambda ln: ln == "fault none" and drive.lines.count("fault none") == 2,
               "recovery", timeout=40)
    seq = drive.sms(PHONE, "after replug")
    assert drive.done(seq) == ("DELIVERED", "sent")
    assert sim.sms == [(PHONE, "after replug")]


def test_slow_replies_still_deliver(rig):
    sim, drive = rig(delay=1.0)
    drive.fault("none")
    seq = drive.sms(PHONE, VN)
    assert drive.done(seq, timeout=40) == ("DELIVERED", "sent")
    assert sim.sms == [(PHONE, VN)]


def test_a_modem_that_does_not_answer_is_a_fault(rig):
    sim, drive = rig(mute=True)
    drive.fault("modem: not answering")
    seq = drive.sms(PHONE, "x")
    assert drive.done(seq, timeout=40)[0] == "RETRY"
    sim.mute = False
    drive.fault("none")


def test_sim_pin_is_sent_from_the_pin_file_and_never_logged(rig, tmp_path):
    pin = tmp_path / "sim-pin"
    pin.write_text("1234\n")
    pin.chmod(0o600)
    sim, drive = rig(sim="pin", drive_opts={"pin_file": str(pin)})
    drive.fault("none")
    assert sim.pins_tried == ["1234"]
    assert "1234" not in drive.logged()
    assert "AT+CPIN=****" in drive.logged()


def test_a_wrong_pin_is_tried_once_only(rig, tmp_path):
    pin = tmp_path / "sim-pin"
    pin.write_text("9999\n")
    pin.chmod(0o600)
    sim, drive = rig(sim="pin", drive_opts={"pin_file": str(pin)})
    drive.fault("modem: wrong SIM PIN")
    # more checks come (every 2 s) and none sends a PIN again
    n = len(sim.commands)
    wait_until(lambda: len(sim.commands) > n + 8, what="more checks")
    assert sim.pins_tried == ["9999"]
    assert "9999" not in drive.logged()
