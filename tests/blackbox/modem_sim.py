#!/usr/bin/python3
"""A simulated GSM modem on a socat pty pair, for the black-box tests of
gateway/modem.c (through tests/modem_drive.c).

    sim = ModemSim(tmp_path, personality="sim800")   # or "ec25"
    sim.start()          # socat pty,link=tmp/modem-sim <-> pty,link=tmp/modem
    ... the code under test opens sim.device (tmp/modem) ...
    sim.stop()

It answers the AT commands the gateway uses the way a SIM800 or a Quectel
EC25 does (an EC25 on a 4G-only network is registered in +CEREG only, and
answers AT+CEREG? where a SIM800 says ERROR), and records what it was asked:
`commands` (every command line), `sms` (every message, its PDU parts decoded
and concatenated parts joined back: (number, text)), `parts` (every
SMS-SUBMIT decoded), `calls` (numbers dialled), `hangups` and `cmgs_at`
(time.monotonic() of the read that brought the first byte of each AT+CMGS
command line, for tests/bench).

What a test can change at any time (plain attributes):
    registered      False: +CREG: x,0 / +CEREG: x,0, +CSQ: 99,99
    sim             "ready", "absent" (+CME ERROR: 10), "pin" (needs self.pin)
    mute            no reply to anything
    delay           seconds before every reply (slow firmware)
    cms_errors      a list of codes: the next AT+CMGS bodies get +CMS ERROR: <code>
    call_outcome    "answer", "busy", "no answer", "no carrier", "ring" (never answers)
    urc_in_cmgs     a line sent in the middle of the next AT+CMGS reply
    sms_in_cmgs     (number, text): an SMS that arrives (stored, +CMTI) in the
                    middle of the next AT+CMGS reply
And inject: urc(line), incoming_sms(number, text), incoming_call(number),
unplug() (socat killed: both ptys vanish) and replug().
"""

import os
import select
import signal
import subprocess
import threading
import time
import tty

GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
            0x3E: "]", 0x40: "|", 0x65: "€"}
assert len(GSM7) == 128


def unpack7(data, count, skip_bits=0):
    """count septets from data, after skip_bits (the UDH and its fill)."""
    out = []
    for i in range(count):
        bit = skip_bits + 7 * i
        v = data[bit // 8] >> (bit % 8)
        if bit % 8 > 1 and bit // 8 + 1 < len(data):
            v |= data[bit // 8 + 1] << (8 - bit % 8)
        out.append(v & 0x7F)
    text, i = [], 0
    while i < len(out):
        if out[i] == 0x1B and i + 1 < len(out):
            text.append(GSM7_EXT.get(out[i + 1], " "))
            i += 2
        else:
            text.append(GSM7[out[i]])
            i += 1
    return "".join(text)


def pack7(septets):
    out = bytearray((len(septets) * 7 + 7) // 8)
    for i, s in enumerate(septets):
        bit = 7 * i
        v = s << (bit % 8)
        out[bit // 8] |= v & 0xFF
        if bit // 8 + 1 < len(out):
            out[bit // 8 + 1] |= v >> 8
    return bytes(out)


def semi_octets(digits):
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def decode_submit(hexpdu):
    """An SMS-SUBMIT as the gateway sends it -> dict(number, text, ref, total, seq, dcs)."""
    b = bytes.fromhex(hexpdu)
    p = 1 + b[0]
    fo = b[p]
    assert fo & 0x03 == 0x01, "not an SMS-SUBMIT"
    p += 2  # first octet, message reference
    ndigits, toa = b[p], b[p + 1]
    p += 2
    digits = "".join(f"{x & 15:x}{x >> 4:x}" for x in b[p:p + (ndigits + 1) // 2])[:ndigits]
    number = ("+" if toa == 0x91 else "") + digits
    p += (ndigits + 1) // 2
    pid, dcs = b[p], b[p + 1]
    p += 2
    vpf = (fo >> 3) & 3
    p += {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    udl = b[p]
    ud = b[p + 1:]
    ref = total = seq = None
    hdr = 0
    if fo & 0x40:
        hdr = ud[0] + 1
        i = 1
        while i < hdr:
            iei, ln = ud[i], ud[i + 1]
            if iei == 0x00:
                ref, total, seq = ud[i + 2], ud[i + 3], ud[i + 4]
            i += 2 + ln
    if dcs == 0x08:
        assert len(ud) == udl, f"UDL {udl} but {len(ud)} octets"
        text = ud[hdr:].decode("utf-16-be")
    else:
        skip = (hdr * 8 + 6) // 7 if hdr else 0
        assert len(ud) == (udl * 7 + 7) // 8, f"UDL {udl} septets but {len(ud)} octets"
        text = unpack7(ud, udl - skip, skip * 7)
    return {"number": number, "text": text, "ref": ref, "total": total, "seq": seq,
            "dcs": dcs, "pid": pid, "udl": udl}


def encode_deliver(number, text, part=None):
    """An SMS-DELIVER as a network hands it to the modem: GSM-7 when it can,
    else UCS-2; part=(ref, total, seq) makes it one part of a long SMS
    (UCS-2, with the concatenation UDH)."""
    intl = number.startswith("+")
    digits = number.lstrip("+")
    oa = bytes([len(digits), 0x91 if intl else 0x81]) + semi_octets(digits)
    scts = bytes.fromhex("62113251000000")
    fo = 0x04
    try:
        if part:
            raise ValueError("parts go as UCS-2 here")
        septets = [GSM7.index(ch) for ch in text]
        ud, udl, dcs = pack7(septets), len(septets), 0x00
    except ValueError:
        ud = text.encode("utf-16-be")
        dcs = 0x08
        if part:
            fo |= 0x40
            ud = bytes([5, 0, 3, part[0], part[1], part[2]]) + ud
        udl = len(ud)
    return (bytes([0x00, fo]) + oa + bytes([0x00, dcs]) + scts + bytes([udl]) + ud).hex().upper()


class ModemSim:
    def __init__(self, tmp, personality="sim800"):
        assert personality in ("sim800", "ec25")
        self.personality = personality
        self.sim_end = os.path.join(str(tmp), "modem-sim")
        self.device = os.path.join(str(tmp), "modem")
        self.registered = True
        self.sim = "ready"
        self.pin = "1234"
        self.mute = False
        self.delay = 0.0
        self.cms_errors = []
        self.call_outcome = "answer"
        self.urc_in_cmgs = None
        self.sms_in_cmgs = None
        self.commands, self.parts, self.sms, self.calls = [], [], [], []
        self.hangups = 0
        self.cmgs_at = []
        self.pins_tried = []
        self.storage = {}
        self.deleted = []
        self.call = None  # {"number", "stat"}
        self._incoming = None
        self._lock = threading.RLock()
        self._pending_parts = {}
        self._mr = 0
        self.socat = None
        self.fd = None
        self._stop = threading.Event()
        self._thread = None

    # ---- the pty pair ----

    def start(self):
        for p in (self.sim_end, self.device):
            if os.path.lexists(p):
                os.unlink(p)
        self.socat = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.sim_end}", f"pty,raw,echo=0,link={self.device}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.sim_end) and os.path.exists(self.device)):
            assert time.monotonic() < deadline, "socat made no ptys"
            time.sleep(0.02)
        self.fd = os.open(self.sim_end, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
            self._thread = None
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        if self.socat:
            self.socat.send_signal(signal.SIGTERM)
            try:
                self.socat.wait(5)
            except subprocess.TimeoutExpired:
                self.socat.kill()
                self.socat.wait()
            self.socat = None
        for p in (self.sim_end, self.device):
            if os.path.lexists(p):
                os.unlink(p)

    def unplug(self):
        """The USB modem is pulled: both ptys go away."""
        self.stop()

    def replug(self):
        self.start()

    # ---- output ----

    def _write(self, data):
        with self._lock:
            fd = self.fd
            if fd is None:
                return
            try:
                os.write(fd, data.encode() if isinstance(data, str) else data)
            except OSError:
                pass

    def _reply(self, *lines):
        if self.delay:
            time.sleep(self.delay)
        self._write("".join(f"\r\n{ln}\r\n" for ln in lines))

    def urc(self, line):
        self._write(f"\r\n{line}\r\n")

    def incoming_sms(self, number, text, part=None):
        with self._lock:
            idx = 1
            while idx in self.storage or idx in self.deleted:
                idx += 1
            self.storage[idx] = encode_deliver(number, text, part)
        self.urc(f'+CMTI: "SM",{idx}')
        return idx

    def incoming_call(self, number, rings=6):
        """RING and +CLIP every second until ATH (or rings run out)."""
        self._incoming = number

        def ring():
            for _ in range(rings):
                if self._incoming != number or self._stop.is_set():
                    return
                self.urc("RING")
                self.urc(f'+CLIP: "{number}",145,"",0,"",0')
                time.sleep(1.0)
            self._incoming = None
        threading.Thread(target=ring, daemon=True).start()

    # ---- input ----

    def _serve(self):
        buf = b""
        line_t = 0.0
        body = None  # bytes of an SMS body after the prompt
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
                continue
            if not data:
                continue
            now = time.monotonic()
            if not buf.strip():
                line_t = now  # the next line's first byte came in this read
            buf += data
            while True:
                if body is not None:
                    end = min((i for i in (buf.find(b"\x1a"), buf.find(b"\x1b")) if i >= 0),
                              default=-1)
                    if end < 0:
                        break
                    hexpdu, ctrl, buf = buf[:end].decode().strip(), buf[end:end + 1], buf[end + 1:]
                    length = body
                    body = None
                    if ctrl == b"\x1a" and not self.mute:
                        self._cmgs(length, hexpdu)
                    continue
                i = buf.find(b"\r")
                if i < 0:
                    break
                line, buf = buf[:i].decode(errors="replace").strip(), buf[i + 1:]
                t_line, line_t = line_t, now  # what is left came in by now
                if not line:
                    continue
                with self._lock:
                    self.commands.append(line)
                if self.mute:
                    continue
                if line.upper().startswith("AT+CMGS="):
                    with self._lock:
                        self.cmgs_at.append(t_line)
                    body = int(line[8:])
                    if self.delay:
                        time.sleep(self.delay)
                    self._write("\r\n> ")
                    continue
                self._command(line)

    def _cmgs(self, length, hexpdu):
        try:
            part = decode_submit(hexpdu)
            assert len(bytes.fromhex(hexpdu)) - 1 == length, "AT+CMGS length is wrong"
        except Exception as e:  # noqa: BLE001 - a bad PDU is an ERROR, as on a modem
            with self._lock:
                self.parts.append({"error": str(e), "hex": hexpdu})
            self._reply("+CMS ERROR: 304")
            return
        if self.urc_in_cmgs:
            line, self.urc_in_cmgs = self.urc_in_cmgs, None
            self.urc(line)
        if self.sms_in_cmgs:
            (number, text), self.sms_in_cmgs = self.sms_in_cmgs, None
            self.incoming_sms(number, text)
        if not self.registered:
            self._reply("+CMS ERROR: 331")  # no network service
            return
        if self.cms_errors:
            self._reply(f"+CMS ERROR: {self.cms_errors.pop(0)}")
            return
        with self._lock:
            self.parts.append(part)
            self._mr = (self._mr + 1) % 256
            if part["total"]:
                key = (part["number"], part["ref"])
                got = self._pending_parts.setdefault(key, {})
                got[part["seq"]] = part["text"]
                if len(got) == part["total"]:
                    self.sms.append((part["number"],
                                     "".join(got[k] for k in sorted(got))))
                    del self._pending_parts[key]
            else:
                self.sms.append((part["number"], part["text"]))
        self._reply(f"+CMGS: {self._mr}", "OK")

    def _creg(self, which):
        if which == "CREG" and self.personality == "ec25":
            return "+CREG: 0,2" if self.registered else "+CREG: 0,0"
        return f"+{which}: 0,{1 if self.registered else 0}"

    def _command(self, line):
        up = line.upper()
        if up in ("AT", "ATE0", "AT+CMEE=1", "AT+CMGF=0", "AT+CLIP=1", "AT+CREG=1") or \
                up.startswith("AT+CNMI="):
            return self._reply("OK")
        if up == "AT+CPIN?":
            if self.sim == "absent":
                return self._reply("+CME ERROR: 10")
            return self._reply("+CPIN: READY" if self.sim == "ready" else "+CPIN: SIM PIN", "OK")
        if up.startswith("AT+CPIN="):
            self.pins_tried.append(line[8:])
            if self.sim == "pin" and line[8:] == self.pin:
                self.sim = "ready"
                return self._reply("OK")
            return self._reply("+CME ERROR: 16")
        if up == "AT+CREG?":
            return self._reply(self._creg("CREG"), "OK")
        if up == "AT+CEREG?":
            if self.personality == "sim800":
                return self._reply("ERROR")
            return self._reply(self._creg("CEREG"), "OK")
        if up == "AT+CSQ":
            return self._reply("+CSQ: 18,0" if self.registered else "+CSQ: 99,99", "OK")
        if up.startswith("ATD") and up.endswith(";"):
            return self._dial(line[3:-1])
        if up == "AT+CLCC":
            c = self.call
            if c:
                return self._reply(f'+CLCC: 1,0,{c["stat"]},0,0,"{c["number"]}",145', "OK")
            return self._reply("OK")
        if up == "ATH":
            with self._lock:
                self.hangups += 1
                self.call = None
                self._incoming = None
            return self._reply("OK")
        if up.startswith("AT+CMGR="):
            pdu = self.storage.get(int(line[8:]))
            if pdu is None:
                return self._reply("+CMS ERROR: 321")
            return self._reply(f"+CMGR: 0,,{len(pdu) // 2 - 1}", pdu, "OK")
        if up.startswith("AT+CMGD="):
            with self._lock:
                self.storage.pop(int(line[8:]), None)
                self.deleted.append(int(line[8:]))
            return self._reply("OK")
        if up == "AT+CMGL=4":
            lines = []
            for idx, pdu in sorted(self.storage.items()):
                lines += [f"+CMGL: {idx},0,,{len(pdu) // 2 - 1}", pdu]
            return self._reply(*lines, "OK")
        return self._reply("ERROR")

    def _dial(self, number):
        if not self.registered:
            return self._reply("NO CARRIER")
        with self._lock:
            self.calls.append(number)
            call = {"number": number, "stat": 2}
            self.call = call
        self._reply("OK")
        outcome = self.call_outcome

        def progress():
            time.sleep(0.3)
            if self.call is not call:
                return
            call["stat"] = 3  # alerting
            time.sleep(1.0)
            if self.call is not call:
                return
            if outcome == "answer":
                call["stat"] = 0
            elif outcome in ("busy", "no answer", "no carrier"):
                self.call = None
                self.urc(outcome.upper())
        threading.Thread(target=progress, daemon=True).start()
