"""`safehoused -c FILE --check`: the installer's config and rule checker."""

import json
import os

from helpers import DEFAULT_RULES, ROOT, base_config, errors_only, parse_diags, run_check


def write_site(tmp_path, config, rules=None):
    (tmp_path / "rules").mkdir(exist_ok=True)
    for name, text in (rules or {"site.rules": DEFAULT_RULES}).items():
        (tmp_path / "rules" / name).write_text(text)
    path = tmp_path / "config.json"
    text = json.dumps(config, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text)
    return path, text


def line_of(text, needle, start_line=1):
    """1-based line of the first occurrence of needle at or after start_line."""
    for i, line in enumerate(text.splitlines(), 1):
        if i >= start_line and needle in line:
            return i
    raise AssertionError(f"{needle!r} not in the file")


def test_check_clean_config_exits_0(tmp_path):
    path, _ = write_site(tmp_path, base_config(1883))
    r = run_check(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert errors_only(parse_diags(r.stdout + r.stderr)) == []


def test_check_does_not_start_the_gateway_nor_create_files(tmp_path):
    path, _ = write_site(tmp_path, base_config(1883))
    before = set(os.listdir(tmp_path))
    r = run_check(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(os.listdir(tmp_path)) == before


def test_check_shipped_demo_config_is_clean():
    path = ROOT / "deploy" / "examples" / "nha-tro.json"
    db = path.parent / "safehouse.db"
    existed = db.exists()
    r = run_check(path)
    if not existed and db.exists():  # leave the tree as we found it
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(str(db) + suffix)
            except FileNotFoundError:
                pass
    assert r.returncode == 0, r.stdout + r.stderr
    assert errors_only(parse_diags(r.stdout + r.stderr)) == []


def test_check_broken_config_lists_every_error_with_position_and_path(tmp_path):
    cfg = base_config(1883)
    cfg["colour"] = "red"                                # unknown key
    cfg["sensors"][1]["zone"] = "room-9"                 # unknown zone
    cfg["sensors"][3]["kind"] = "smok"                   # unknown kind
    cfg["contacts"][1]["via"] = "pigeon"                 # unknown channel
    path, text = write_site(tmp_path, cfg)
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    diags = [d for d in parse_diags(out) if os.path.basename(d["file"]) == "config.json"]
    expected = {
        "colour": (line_of(text, '"colour"'), "colour"),
        "room-9": (line_of(text, '"room-9"'), "sensors[1].zone"),
        "smok": (line_of(text, '"smok"'), "sensors[3].kind"),
        "pigeon": (line_of(text, '"pigeon"'), "contacts[1].via"),
    }
    for word, (line, jpath) in expected.items():
        hits = [d for d in diags if word in d["msg"]]
        assert hits, f"no error about {word!r} in:\n{out}"
        d = hits[0]
        assert d["line"] == line, f"{word!r} reported at line {d['line']}, is at {line}:\n{out}"
        assert d["col"] >= 1
        if word != "colour":
            assert jpath in d["msg"], f"error about {word!r} lacks its path {jpath}:\n{out}"
    errors = errors_only(diags)
    assert len(errors) == 4, f"expected exactly 4 errors, got:\n{out}"


def test_check_reports_json_syntax_error_with_position(tmp_path):
    path, _ = write_site(tmp_path, base_config(1883))
    lines = path.read_text().splitlines()
    # Drop the comma at the end of line 3 of the file.
    assert lines[2].endswith(","), lines[2]
    lines[2] = lines[2][:-1]
    path.write_text("\n".join(lines) + "\n")
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    diags = [d for d in parse_diags(out) if os.path.basename(d["file"]) == "config.json"]
    assert diags, out
    assert diags[0]["line"] in (3, 4), out
    # The config is Vietnamese: an excerpt of it must not cut a character.
    assert "\ufffd" not in out, f"the message is not valid UTF-8:\n{out}"


BROKEN_RULES = """\
# Four mistakes, one per rule.
rule "typo in the kind"
when smok becomes detected
then
  alarm fire
end

rule "unknown contact"
when smoke becomes detected
then
  alert militya
end

rule "unknown class"
when gas becomes detected
then
  alarm flood
end

rule "unknown sensor"
when sensor "smoke-999" becomes detected
then
  alarm fire
end
"""


def test_check_broken_rule_file_lists_every_error_with_positions(tmp_path):
    path, _ = write_site(tmp_path, base_config(1883), {"broken.rules": BROKEN_RULES})
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    diags = [d for d in parse_diags(out) if os.path.basename(d["file"]) == "broken.rules"]
    lines = BROKEN_RULES.splitlines()
    expected = {"smok": 3, "militya": 11, "flood": 17, "smoke-999": 21}
    for word, line in expected.items():
        hits = [d for d in diags if d["line"] == line]
        assert hits, f"no error at broken.rules:{line} (about {word!r}) in:\n{out}"
        col = lines[line - 1].index(word) + 1
        assert 1 <= hits[0]["col"] <= len(lines[line - 1]) + 1, hits[0]
        # The word itself, or its opening quote.
        assert hits[0]["col"] in (col, col - 1), (
            f"error about {word!r} at column {hits[0]['col']}, the word is at {col}:\n{out}")
    errors = errors_only(diags)
    assert len(errors) == 4, f"expected exactly 4 errors, got:\n{out}"


def test_check_reports_config_and_rule_errors_in_one_pass(tmp_path):
    cfg = base_config(1883)
    cfg["sensors"][0]["zone"] = "room-9"
    path, _ = write_site(tmp_path, cfg, {"broken.rules": BROKEN_RULES})
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    files = {os.path.basename(d["file"]) for d in parse_diags(out)}
    assert "config.json" in files, out
    # Rules are compiled against the config; with a bad config the rule
    # errors may depend on it, but a rule file error not tied to it (the
    # kind typo) must still show up.
    assert "broken.rules" in files, out


def test_check_missing_config_file_exits_1(tmp_path):
    r = run_check(tmp_path / "nope.json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "nope.json" in r.stdout + r.stderr


def test_check_refuses_wildcard_sensor_topic_and_duplicate_ids(tmp_path):
    cfg = base_config(1883)
    cfg["sensors"][0]["mqtt"]["topic"] = "zigbee2mqtt/+"
    cfg["sensors"][2]["id"] = "smoke-102"
    cfg["contacts"].append({"id": "owner", "via": "upstream"})
    path, text = write_site(tmp_path, cfg)
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    diags = errors_only(parse_diags(out))
    assert any(d["line"] == line_of(text, '"zigbee2mqtt/+"') and "sensors[0].mqtt.topic" in
               d["msg"] for d in diags), out
    assert any("sensors[2].id" in d["msg"] for d in diags), out
    assert any("contacts[2].id" in d["msg"] for d in diags), out
    assert len(diags) == 3, out
