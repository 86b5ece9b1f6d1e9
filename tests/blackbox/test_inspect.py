"""The inspector's checklist and the report from the running daemon.

An inspector (a user with role inspector and a PIN) opens an inspection
with their code, judges criteria, and finishes; the steps are recorded and
`safehousectl report` (computed on the daemon's report thread from its own
database) shows them. Wrong use is refused with a clear message and records
nothing.
"""

import json
import subprocess
from datetime import datetime, timedelta, timezone

from helpers import ROOT, SAFEHOUSECTL, wait_until

CRITERIA = ROOT / "rules" / "model" / "criteria.json"


def add_user(s, name, role, pin):
    r = subprocess.run([SAFEHOUSECTL, "-s", s.socket_path, "users", "add", name, "--role",
                        role, "--pin-stdin"], input=pin + "\n", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def start(site):
    site.config["criteria"] = str(CRITERIA)
    site.start()
    add_user(site, "kiemtra", "inspector", "2468")
    add_user(site, "chunha", "owner", "1357")
    return site


def period():
    now = datetime.now(timezone.utc)
    f = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f(now - timedelta(days=1)), f(now + timedelta(minutes=5))


def report(site, *extra):
    frm, to = period()
    r = site.ctl("report", "--from", frm, "--to", to, "--format", "json", "--lang", "en",
                 *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def inspect_events(site):
    return [e for e in site.ctl_json("events", "--limit", "200")["events"]
            if e.get("type") == "inspect"]


def test_inspection_is_recorded_and_reported(site):
    s = start(site)
    r = s.ctl("inspect", "start", "--code", "2468")
    assert r.returncode == 0, r.stderr
    assert "inspection started by kiemtra" in r.stdout
    assert s.ctl("inspect", "extinguishers", "pass", "--note", "2 bình, hạn 2027").returncode == 0
    assert s.ctl("inspect", "exits-clear", "fail", "--note", "xe máy chắn lối").returncode == 0
    assert s.ctl("inspect", "finish").returncode == 0
    rep = report(s)
    insp = rep["inspection"]
    assert insp["by"] == "kiemtra" and insp["finished_at"]
    assert [(x["criterion"], x["result"], x["note"], x["by"]) for x in insp["results"]] == [
        ("extinguishers", "pass", "2 bình, hạn 2027", "kiemtra"),
        ("exits-clear", "fail", "xe máy chắn lối", "kiemtra")]
    v = {c["id"]: c["result"] for c in rep["criteria"]}
    assert (v["extinguishers"], v["exits-clear"], v["fire-plan"]) == \
        ("pass", "fail", "not_checked")


def test_owner_cannot_start_an_inspection(site):
    s = start(site)
    r = s.ctl("inspect", "start", "--code", "1357")
    assert r.returncode == 1
    assert "chunha is not an inspector (role owner)" in r.stderr
    assert inspect_events(s) == []


def test_inspection_needs_the_inspectors_code(site):
    s = start(site)
    r = s.ctl("inspect", "start", "--by", "kiemtra")
    assert r.returncode == 1 and "code is needed" in r.stderr
    assert inspect_events(s) == []


def test_unknown_criterion_is_refused_with_a_hint(site):
    s = start(site)
    assert s.ctl("inspect", "start", "--code", "2468").returncode == 0
    r = s.ctl("inspect", "extinguisher", "pass")
    assert r.returncode == 1
    assert 'unknown criterion "extinguisher" (did you mean "extinguishers"?)' in r.stderr
    # The start is recorded (committed at once); the refused verdict is not.
    wait_until(lambda: inspect_events(s), what="the inspection's start in the events")
    assert s.ctl("inspect", "finish").returncode == 0
    wait_until(lambda: len(inspect_events(s)) >= 2, what="the inspection's finish")
    assert [e["detail"] for e in inspect_events(s)] == ["finish", "start"]


def test_judging_outside_an_inspection_is_refused(site):
    s = start(site)
    r = s.ctl("inspect", "wiring", "pass")
    assert r.returncode == 1 and "no inspection in progress" in r.stderr


def test_report_from_the_daemon_as_text_html_and_file(site, tmp_path):
    s = start(site)
    frm, to = period()
    text = s.ctl("report", "--from", frm, "--to", to)
    assert text.returncode == 0, text.stderr
    assert "BÁO CÁO AN TOÀN PHÒNG CHÁY CHỮA CHÁY" in text.stdout
    out = tmp_path / "r.html"
    r = s.ctl("report", "--from", frm, "--to", to, "--format", "html", "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")
    # The daemon's own start and link are in its database.
    rep = report(s)
    assert rep["site"]["id"] == "test-site"
    assert rep["upstream"]["availability"] is not None


def test_report_refuses_a_bad_period(site):
    s = start(site)
    r = s.ctl("report", "--from", "2026-12-01", "--to", "2026-11-01")
    assert r.returncode == 2 and "--to must be after --from" in r.stderr
    r = s.ctl("report", "--from", "last week", "--to", "2026-11-01")
    assert r.returncode == 2 and "--from DATE --to DATE" in r.stderr


def test_status_shows_the_self_check(site):
    s = start(site)
    st = s.status()
    assert "compliance" in st


def notices(site, text):
    return [m for m in site.probe.select(site.topic("notify"))
            if text in (m.json().get("message") or "")]


WALK_TEXT = "Mọi đầu báo được thử trong 31 ngày gần nhất"


def test_self_check_tells_the_owner_once_of_a_newly_failed_criterion(site):
    # A new house: no detector walk-tested yet.
    s = start(site)
    (m,) = s.probe.wait_for(s.topic("notify"),
                         pred=lambda m: WALK_TEXT in (m.json().get("message") or ""),
                         what="the self-check's notice of the walk tests")
    assert m.json()["to"] == "owner"
    assert "smoke-101" in m.json()["message"]
    wait_until(lambda: s.status()["compliance"].get("at"), what="the self-check's summary")
    st = s.status()["compliance"]
    assert "walk-tested" in st["failing"] and st["failed"] >= 1
    text = s.ctl("status").stdout
    assert "self-check:" in text and "walk-tested" in text
    # A restart checks again; what was already failing is not told again.
    s.stop()
    s.wait_exit()
    before = len(notices(s, WALK_TEXT))
    s.start()
    wait_until(lambda: s.status()["compliance"].get("at"), what="the self-check after restart")
    events = lambda: [e for e in s.ctl_json("events", "--limit", "500")["events"]
                      if e.get("type") == "self_check"]
    wait_until(lambda: len(events()) >= 2, what="both self-checks recorded")
    s.barrier()
    assert len(notices(s, WALK_TEXT)) == before == 1
