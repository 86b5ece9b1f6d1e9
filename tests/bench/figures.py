#!/usr/bin/python3
"""The benchmarks' figures at a glance (issue 16): a recorder and a renderer.

    figures.py record BENCH [--build TYPE | --build-of BINARY] [--note TEXT] KEY=VALUE...
    figures.py render [--readme PATH]
    figures.py show

`record` stores the latest value of each KEY of BENCH in figures.json
(beside this file) with the run it came from: date, the machine (CPUs,
CPU model, kernel, virtualization), the build type and the commit; then it
renders. A key keeps its own run, so a bench run at other load levels
leaves the figures of the levels it did not measure as they were.
BENCH_RECORD=0 in the environment makes `record` do nothing (the bench
still prints its figures).

`render` rewrites the part of tests/bench/README.md between the markers
<!-- figures:begin --> and <!-- figures:end --> with a short table (one row
per figure of the issue: value, goal, met or not, when and where it was
measured) and a footnote per run; text outside the markers is left as it
is, and rendering twice gives the same file.

Standard library only. Figures only: nothing here judges a run good or bad
beyond printing whether a goal is met."""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STORE = Path(os.environ.get("BENCH_FIGURES", HERE / "figures.json"))
README = Path(os.environ.get("BENCH_FIGURES_README", HERE / "README.md"))
BEGIN = "<!-- figures:begin -->"
END = "<!-- figures:end -->"
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
BENCH_RE = KEY_RE


class Refused(Exception):
    """A bad argument or file; the message says what, where and why."""


# ------------------------------------------------------------------ machine --

def _read(path):
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _run(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def virtualization():
    """The VM and the container we run in, as systemd-detect-virt names
    them ("kvm + docker", "none"); without it, "vm" when the CPU flags say
    a hypervisor is there."""
    found = [v for v in (_run("systemd-detect-virt", "--vm"),
                         _run("systemd-detect-virt", "--container")) if v and v != "none"]
    if not found and re.search(r"^flags\s*:.*\bhypervisor\b", _read("/proc/cpuinfo"), re.M):
        found = ["vm"]
    if not found:
        return "none" if _run("systemd-detect-virt") or os.path.exists("/usr/bin/systemd-detect-virt") \
            else "unknown"
    return " + ".join(found)


def machine():
    m = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    if not m:  # arm: no "model name" on some kernels
        m = re.search(r"^(?:Hardware|CPU part)\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    return {
        "cpus": os.cpu_count() or 0,
        "cpu": m.group(1).strip() if m else platform.processor() or "?",
        "arch": platform.machine(),
        "kernel": platform.release(),
        "virt": virtualization(),
        "host": platform.node(),
    }


def build_type_of(binary):
    """CMAKE_BUILD_TYPE of the build dir a binary lives in, if it has one."""
    cache = Path(binary).resolve().parent / "CMakeCache.txt"
    m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", _read(cache), re.M)
    return (m.group(1) or "default") if m else "?"


def commit():
    c = _run("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    # Changes to the tracked files, but for what the recorder itself writes
    # (else every record after the first would say so).
    if c and _run("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--",
                  ".", ":!tests/bench/figures.json", ":!tests/bench/README.md"):
        c += "+changes"
    return c or "?"


# -------------------------------------------------------------------- store --

def load(path=None):
    path = Path(path or STORE)
    if not path.exists():
        return {"runs": {}, "figures": {}}
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise Refused(f"{path}: not JSON ({e}); fix or delete it") from e
    if not isinstance(d, dict) or not isinstance(d.get("runs"), dict) \
            or not isinstance(d.get("figures"), dict):
        raise Refused(f"{path}: expected an object with \"runs\" and \"figures\"")
    return d


def save(d, path=None):
    path = Path(path or STORE)
    # Runs no figure refers to any more are dropped.
    used = {f["run"] for b in d["figures"].values() for f in b.values()}
    d["runs"] = {k: v for k, v in d["runs"].items() if k in used}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(d, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


def parse_pairs(pairs):
    """KEY=VALUE arguments to {key: float}; refuses anything else."""
    out = {}
    for p in pairs:
        key, eq, value = p.partition("=")
        if not eq:
            raise Refused(f"figure '{p}': expected KEY=VALUE (no '=')")
        if not KEY_RE.match(key):
            raise Refused(f"figure '{p}': the key '{key}' must be letters, digits, '_', '.'"
                          " or '-' (and not start with '.' or '-')")
        try:
            v = float(value)
        except ValueError:
            raise Refused(f"figure '{p}': the value '{value}' of {key} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise Refused(f"figure '{p}': the value of {key} must be finite")
        if key in out:
            raise Refused(f"figure '{p}': {key} given twice")
        out[key] = int(v) if v.is_integer() and "." not in value else v
    if not out:
        raise Refused("no figures given (KEY=VALUE ...)")
    return out


def record(d, bench, figures, build="?", note="", when=None):
    if not BENCH_RE.match(bench):
        raise Refused(f"bench '{bench}': must be letters, digits, '_', '.' or '-'")
    when = when or datetime.datetime.now(datetime.timezone.utc)
    run_id = f"{bench}@{when.strftime('%Y%m%dT%H%M%SZ')}"
    d["runs"][run_id] = {"bench": bench, "date": when.strftime("%Y-%m-%d %H:%M UTC"),
                         "machine": machine(), "build": build, "commit": commit(),
                         "note": note}
    b = d["figures"].setdefault(bench, {})
    for k, v in figures.items():
        b[k] = {"value": v, "run": run_id}
    return run_id


# ------------------------------------------------------------------- render --

def _fmt(v, unit=""):
    if v is None:
        return "?"
    if isinstance(v, float) and not v.is_integer():
        s = f"{v:.2f}" if abs(v) < 10 else f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"
    else:
        s = f"{int(v):,}"
    return s + unit


class Row:
    """One line of the table: the value of BENCH's KEY, formatted; goal as
    text and as a predicate; extra keys shown in parentheses."""

    def __init__(self, label, bench, key, fmt, goal="", ok=None, extra=None):
        self.label, self.bench, self.key, self.fmt = label, bench, key, fmt
        self.goal, self.ok, self.extra = goal, ok, extra


def ratio(v):
    return f"{v:.2f}x"


def ms(v):
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def rows_of(d):
    rows = []
    for rate in (50000, 20000):
        r = f"{rate:,} msg/s"
        rows += [
            Row(f"{r}: p50, safehoused / floor", "run", f"{rate}.p50_ratio", ratio,
                "≤ 1.5x" if rate == 50000 else "", (lambda v: v <= 1.5) if rate == 50000 else None,
                lambda g, rate=rate: f"{ms(g(f'{rate}.p50_us') / 1000)}, floor "
                                     f"{ms(g(f'{rate}.floor_p50_us') / 1000)}"),
            Row(f"{r}: p99, safehoused / floor", "run", f"{rate}.p99_ratio", ratio,
                "≤ 2x" if rate == 50000 else "", (lambda v: v <= 2) if rate == 50000 else None,
                lambda g, rate=rate: f"{ms(g(f'{rate}.p99_us') / 1000)}, floor "
                                     f"{ms(g(f'{rate}.floor_p99_us') / 1000)}"),
            Row(f"{r}: CPU per message, safehoused / floor", "run", f"{rate}.cpu_ratio", ratio,
                "≤ 1.3x", lambda v: v <= 1.3),
            Row(f"{r}: CPU per message, both on the same stream at once", "run",
                f"{rate}.cpu_side_ratio", ratio, "≤ 1.3x", lambda v: v <= 1.3),
            Row(f"{r}: probes lost by safehoused", "run", f"{rate}.lost", lambda v: _fmt(v),
                "0", lambda v: v == 0,
                lambda g, rate=rate: f"of {_fmt(g(f'{rate}.probes'))}"),
        ]
    rows += [
        Row("Peak RSS, 500 sensors (VmHWM, max over the phases)", "run", "rss_kb",
            lambda v: f"{v / 1024:.1f} MB", "≤ 8 MB", lambda v: v <= 8 * 1024,
            lambda g: f"floor forwarder {g('floor_rss_kb') / 1024:.1f} MB"
                      + (f"; safehoused's libraries alone {g('libfloor_rss_kb') / 1024:.1f} MB"
                         if g('libfloor_rss_kb') else "")),
        Row("Instructions per message (callgrind), safehoused / floor", "instr",
            "ratio", ratio, "", None,
            lambda g: f"{_fmt(g('safehoused'))} / {_fmt(g('floor'))} at {_fmt(g('rate'))} msg/s"),
        Row("Cold start, 1,000 sensors + 2,000 rules: `--check`", "coldstart", "check_ms",
            ms, "< 100 ms", lambda v: v < 100, lambda g: f"median; worst {ms(g('check_worst_ms'))}"),
        Row("Cold start: exec -> sirens ready (first start)", "coldstart", "online_ms", ms,
            "< 100 ms", lambda v: v < 100, lambda g: f"median; worst {ms(g('online_worst_ms'))}"),
        Row("SD writes, 50-sensor house, steady temperatures", "sd", "steady_mb_day",
            lambda v: f"{v:.1f} MB/day", "< 20 MB/day", lambda v: v < 20),
        Row("SD writes, 50-sensor house, changing temperatures", "sd", "changing_mb_day",
            lambda v: f"{v:.1f} MB/day", "< 20 MB/day", lambda v: v < 20),
    ]
    for arch in sorted(k[4:] for k in d["figures"] if k.startswith("run-")):
        b = d["figures"][f"run-{arch}"]
        levels = sorted({int(k.split(".")[0]) for k in b if k.split(".")[0].isdigit()})
        for rate in levels:
            rows.append(Row(f"{arch} under qemu-user, {rate:,} msg/s: p50 / p99 / CPU vs floor",
                            f"run-{arch}", f"{rate}.p50_ratio", None, "", None,
                            lambda g, rate=rate: _qemu_cell(g, rate)))
        if "rss_kb" in b:
            rows.append(Row(f"{arch} under qemu-user: peak RSS, safehoused / floor", f"run-{arch}",
                            "rss_kb", None, "", None,
                            lambda g: f"{g('rss_kb') / 1024:.1f} / {g('floor_rss_kb') / 1024:.1f}"
                                      " MB (qemu's own memory included)"))
    return rows


def _qemu_cell(g, rate):
    parts = [f"{g(f'{rate}.{k}_ratio'):.2f}x" if g(f'{rate}.{k}_ratio') is not None else "-"
             for k in ("p50", "p99", "cpu")]
    s = " / ".join(parts)
    lost = g(f"{rate}.lost")
    if lost is not None:
        s += f"; lost {_fmt(lost)}"
    sat = [w for w, k in (("safehoused", "saturated"), ("floor", "floor_saturated"))
           if g(f"{rate}.{k}")]
    if sat:
        s += f"; saturated: {' and '.join(sat)}"
    return s


def table(d):
    runs = d["runs"]
    notes = []  # run ids in order of first use

    def ref(run_id):
        if run_id not in notes:
            notes.append(run_id)
        return f"[{notes.index(run_id) + 1}]"

    out = ["| figure | value | goal | met | measured |", "| --- | --- | --- | --- | --- |"]
    for row in rows_of(d):
        b = d["figures"].get(row.bench, {})
        f = b.get(row.key)
        if f is None:
            out.append(f"| {row.label} | not recorded yet | {row.goal or '-'} | - | - |")
            continue

        def g(k, b=b):
            x = b.get(k)
            return None if x is None else x["value"]

        v = f["value"]
        try:
            cell = row.fmt(v) if row.fmt else ""
            if row.extra:
                extra = row.extra(g)
                cell = f"{cell} ({extra})" if cell else extra
        except (TypeError, ValueError):
            cell = row.fmt(v) if row.fmt else _fmt(v)
        met = "-" if row.ok is None else ("yes" if row.ok(v) else "**no**")
        run = runs.get(f["run"], {})
        out.append(f"| {row.label} | {cell} | {row.goal or '-'} | {met} | "
                   f"{run.get('date', '?')[:10]} {ref(f['run'])} |")
    out.append("")
    for i, run_id in enumerate(notes, 1):
        r = runs.get(run_id, {})
        m = r.get("machine", {})
        line = (f"[{i}] `{r.get('bench', '?')}`, {r.get('date', '?')}, commit {r.get('commit', '?')}, "
                f"{r.get('build', '?')} build; {m.get('cpus', '?')} CPUs {m.get('cpu', '?')} "
                f"({m.get('arch', '?')}), Linux {m.get('kernel', '?')}, virtualization "
                f"{m.get('virt', '?')}")
        if r.get("note"):
            line += f"; {r['note']}"
        out.append(line + ".  ")
    while out and out[-1] == "":
        out.pop()
    if out[-1].endswith("  "):
        out[-1] = out[-1].rstrip()
    return "\n".join(out)


def render_text(text, d, where="README"):
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise Refused(f"{where}: needs exactly one '{BEGIN}' followed by one '{END}'")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return (f"{head}{BEGIN}\n<!-- written by tests/bench/figures.py render from "
            f"tests/bench/figures.json; edits here are overwritten -->\n\n{table(d)}\n\n{END}{tail}")


def render(d, readme=None):
    readme = Path(readme or README)
    text = readme.read_text(encoding="utf-8")
    new = render_text(text, d, str(readme))
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


# --------------------------------------------------------------------- main --

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="store a bench's latest figures, then render")
    r.add_argument("bench")
    r.add_argument("figures", nargs="*", metavar="KEY=VALUE")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--build", default="?", help="build type (Release, RelWithDebInfo, ...)")
    g.add_argument("--build-of", metavar="BINARY",
                   help="take the build type from the CMakeCache.txt beside BINARY")
    r.add_argument("--note", default="", help="a few words on the run (e.g. the load levels)")
    p = sub.add_parser("render", help="rewrite the table in the README")
    p.add_argument("--readme", default=None)
    sub.add_parser("show", help="print the table")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"] and os.environ.get("BENCH_RECORD", "1") == "0":
        print("figures: not recorded (BENCH_RECORD=0)", file=sys.stderr)
        return 0
    # The options of record may come before or after the KEY=VALUE pairs:
    # the pairs after an option are left over by argparse.
    a, rest = ap.parse_known_args(argv)
    bad = [x for x in rest if x.startswith("-") or a.cmd != "record"]
    if bad:
        ap.error(f"unrecognized arguments: {' '.join(bad)}")
    try:
        if a.cmd == "record":
            figs = parse_pairs(a.figures + rest)
            d = load()
            build = build_type_of(a.build_of) if a.build_of else a.build
            run_id = record(d, a.bench, figs, build, a.note)
            save(d)
            render(d)
            print(f"figures: recorded {len(figs)} figures of {a.bench} ({run_id}) in "
                  f"{STORE.relative_to(ROOT) if STORE.is_relative_to(ROOT) else STORE}; "
                  f"table in {README.name} updated", file=sys.stderr)
        elif a.cmd == "render":
            changed = render(load(), a.readme)
            print(f"figures: {'updated' if changed else 'unchanged'}", file=sys.stderr)
        else:
            print(table(load()))
    except Refused as e:
        print(f"figures: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"figures: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
