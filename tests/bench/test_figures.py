"""tests/bench/figures.py: the recorder of the benchmarks' figures and the
table it writes into tests/bench/README.md. Runs the script as the benches
do, on a private figures.json and README (BENCH_FIGURES, BENCH_FIGURES_README)."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().with_name("figures.py")

README = """# Title

Prose above the table, kept as it is.

<!-- figures:begin -->
a hand-written line that the table replaces
<!-- figures:end -->

## Below

Prose below, with a | pipe | and a <!-- comment -->.
"""


def run(tmp, *args, env=None):
    e = dict(os.environ, BENCH_FIGURES=str(tmp / "figures.json"),
             BENCH_FIGURES_README=str(tmp / "README.md"))
    e.pop("BENCH_RECORD", None)
    e.update(env or {})
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=e, timeout=30)


def write_readme(tmp):
    (tmp / "README.md").write_text(README)


def test_record_writes_the_figure_into_the_table_between_the_markers(tmp_path):
    write_readme(tmp_path)
    r = run(tmp_path, "record", "coldstart", "--build", "Release", "check_ms=23.5",
            "check_worst_ms=31", "online_ms=30.4", "online_worst_ms=38.3")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "README.md").read_text()
    table = text.split("<!-- figures:begin -->")[1].split("<!-- figures:end -->")[0]
    assert "a hand-written line" not in table
    row = next(x for x in table.splitlines() if "`--check`" in x)
    assert "23.5 ms" in row and "< 100 ms" in row and "| yes |" in row
    # The footnote names the machine and the build.
    assert "Release build" in table and f"{os.cpu_count()} CPUs" in table
    stored = json.loads((tmp_path / "figures.json").read_text())
    assert stored["figures"]["coldstart"]["check_ms"]["value"] == 23.5


def test_render_keeps_the_text_outside_the_markers(tmp_path):
    write_readme(tmp_path)
    assert run(tmp_path, "record", "run", "20000.p50_ratio=1.3", "rss_kb=8500").returncode == 0
    text = (tmp_path / "README.md").read_text()
    head, rest = README.split("<!-- figures:begin -->")
    tail = rest.split("<!-- figures:end -->")[1]
    assert text.startswith(head + "<!-- figures:begin -->")
    assert text.endswith("<!-- figures:end -->" + tail)
    # A goal not met says so.
    assert any("Peak RSS" in x and "**no**" in x for x in text.splitlines())


def test_render_twice_gives_the_same_file(tmp_path):
    write_readme(tmp_path)
    assert run(tmp_path, "record", "instr", "safehoused=28258", "floor=9275", "ratio=3.05",
               "rate=1000").returncode == 0
    first = (tmp_path / "README.md").read_text()
    r = run(tmp_path, "render")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "README.md").read_text() == first
    assert "unchanged" in r.stderr


def test_a_later_record_keeps_the_figures_it_did_not_measure(tmp_path):
    write_readme(tmp_path)
    assert run(tmp_path, "record", "run", "50000.p99_ratio=2.1", "--note", "first").returncode == 0
    assert run(tmp_path, "record", "run", "1000.p99_ratio=1.1", "--note", "second").returncode == 0
    stored = json.loads((tmp_path / "figures.json").read_text())
    assert stored["figures"]["run"]["50000.p99_ratio"]["value"] == 2.1
    assert stored["figures"]["run"]["1000.p99_ratio"]["value"] == 1.1


def test_a_malformed_figure_is_refused_with_a_message_and_changes_nothing(tmp_path):
    write_readme(tmp_path)
    assert run(tmp_path, "record", "coldstart", "check_ms=20").returncode == 0
    before = ((tmp_path / "figures.json").read_text(), (tmp_path / "README.md").read_text())
    for bad, says in [("check_ms", "expected KEY=VALUE"),
                      ("check_ms=fast", "'fast' of check_ms is not a number"),
                      ("=12", "the key ''"),
                      ("check ms=12", "the key 'check ms'"),
                      ("check_ms=nan", "must be finite")]:
        r = run(tmp_path, "record", "coldstart", "online_ms=30", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert says in r.stderr, (bad, r.stderr)
        assert "Traceback" not in r.stderr
    after = ((tmp_path / "figures.json").read_text(), (tmp_path / "README.md").read_text())
    assert after == before


def test_a_readme_without_the_markers_is_refused_and_left_alone(tmp_path):
    (tmp_path / "README.md").write_text("# no markers here\n")
    r = run(tmp_path, "render")
    assert r.returncode == 2
    assert "<!-- figures:begin -->" in r.stderr
    assert (tmp_path / "README.md").read_text() == "# no markers here\n"


def test_bench_record_0_records_nothing(tmp_path):
    write_readme(tmp_path)
    r = run(tmp_path, "record", "coldstart", "check_ms=20", env={"BENCH_RECORD": "0"})
    assert r.returncode == 0
    assert "not recorded" in r.stderr
    assert not (tmp_path / "figures.json").exists()
    assert (tmp_path / "README.md").read_text() == README
