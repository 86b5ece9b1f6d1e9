"""The HTML compliance report as an inspector gets it: rendered by headless
Chromium (Debian's `chromium`) to a PDF and to a PNG, then read back: the
PDF is A4 with a sane number of pages and its text keeps the Vietnamese
diacritics; the PNG is the size asked for and shows the page, the chart's
bars included. The page comes from tests/report_html_tool (the real
gateway/report_html.c on tests/fixtures/report-sample.json), so no daemon
is needed.

Needs chromium, poppler-utils (pdfinfo, pdftotext) and python3-pil, which
deploy/install-deps.sh installs; without them the tests are skipped and say
which is missing."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, SAFEHOUSED

TOOL = os.environ.get("REPORT_HTML_TOOL", str(Path(SAFEHOUSED).parent / "report_html_tool"))
SAMPLE = ROOT / "tests" / "fixtures" / "report-sample.json"
CHROMIUM_TIMEOUT = 120
WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
ALARM_BAR_RGB = (0xc0, 0x39, 0x2b)  # the chart's alarm bars (report_html.c)


def _need(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (deploy/install-deps.sh installs "
                    f"chromium and poppler-utils); the HTML report is not rendered-tested")


def render_html(tmp_path, language=None, name="report"):
    src = SAMPLE
    if language:
        report = json.loads(SAMPLE.read_text(encoding="utf-8"))
        report["language"] = language
        src = tmp_path / f"{name}.json"
        src.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / f"{name}.html"
    r = subprocess.run([TOOL, str(src), str(out)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"report_html_tool failed: {r.stderr}"
    return out


def chromium(tmp_path, html, *args):
    """Headless chromium on a file:// page with a throwaway profile."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--no-first-run", "--no-default-browser-check", "--disable-extensions",
           f"--user-data-dir={profile}", *args, html.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT)
    assert r.returncode == 0, f"chromium exited {r.returncode}: {r.stderr[-3000:]}"


def to_pdf(tmp_path, html):
    pdf = tmp_path / (html.stem + ".pdf")
    # No browser header/footer: it would print the file:// path and the date
    chromium(tmp_path, html, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    assert pdf.exists() and pdf.stat().st_size > 0, "chromium wrote no PDF"
    return pdf


def pdf_text(pdf):
    r = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8")


def pdf_info(pdf):
    r = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)


@pytest.fixture(scope="module")
def vi_pdf(tmp_path_factory):
    _need("chromium", "pdfinfo", "pdftotext")
    tmp = tmp_path_factory.mktemp("report-vi")
    return to_pdf(tmp, render_html(tmp))


def test_pdf_is_a4_with_a_sane_page_count(vi_pdf):
    info = pdf_info(vi_pdf)
    pages = int(info["Pages"].strip())
    # the sample (8 criteria, 5 alarms, 6 zones) fits in a few pages: one
    # means sections went missing, many means the print CSS broke
    assert 2 <= pages <= 8, f"{pages} pages"
    w, h = (float(x) for x in re.findall(r"[\d.]+", info["Page size"])[:2])
    assert abs(w - 595) < 3 and abs(h - 842) < 3, f"page size {info['Page size']}"


def test_pdf_text_keeps_the_vietnamese_diacritics(vi_pdf):
    text = pdf_text(vi_pdf)
    flat = re.sub(r"\s+", " ", text)
    for expected in ("Nhà trọ Minh Sơn",
                     "Báo cáo kiểm tra an toàn phòng cháy",
                     "Báo cháy",
                     "Pin mọi đầu báo trên 20%",  # a criterion's text
                     "Không đạt",                 # its result, in words
                     "BÁO ĐỘNG GIẢ",              # the false alarm's mark
                     "Khói do nấu ăn",            # and its reason
                     "Cán bộ kiểm tra", "Chủ cơ sở"):  # the signature lines
        assert expected in flat, f"{expected!r} not in the PDF's text"


def test_pdf_shows_the_log_chain_head_to_compare(vi_pdf):
    report = json.loads(SAMPLE.read_text(encoding="utf-8"))
    head = report["log"]["head"]
    # the hash may wrap inside its cell: compare without whitespace
    squeezed = re.sub(r"\s+", "", pdf_text(vi_pdf))
    assert head["hash"] in squeezed
    assert "Toànvẹn" in squeezed  # verified: true, in words


def test_english_report_prints_english_labels_and_names_as_written(tmp_path):
    _need("chromium", "pdftotext")
    text = re.sub(r"\s+", " ", pdf_text(to_pdf(tmp_path, render_html(tmp_path, "en", "en"))))
    assert "Fire safety compliance report" in text
    assert "FALSE ALARM" in text
    assert "Nhà trọ Minh Sơn" in text
    assert "Tiêu chí kiểm tra" not in text


def test_screenshot_is_a_full_size_page_with_the_chart_drawn(tmp_path):
    _need("chromium")
    Image = pytest.importorskip("PIL.Image", reason="python3-pil not installed "
                                "(deploy/install-deps.sh installs it)")
    html = render_html(tmp_path)
    png = tmp_path / "report.png"
    chromium(tmp_path, html, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}",
             "--hide-scrollbars")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) \
        == (WIDTH, HEIGHT)
    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the page is (nearly) uniform"
    counts = {rgb: n for n, rgb in colours}
    ink = sum(n for rgb, n in counts.items() if sum(rgb) < 600)
    assert ink > WIDTH * HEIGHT // 100, f"only {ink} dark pixels: is the page blank?"
    # the SVG chart's alarm bars (5 alarms on 5 days), more than its legend
    assert counts.get(ALARM_BAR_RGB, 0) > 300, "the alarms-per-day chart has no bars"


def test_tool_refuses_a_file_that_is_not_a_report(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = subprocess.run([TOOL, str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "not JSON" in r.stderr
    bad.write_text("[1, 2]", encoding="utf-8")
    r = subprocess.run([TOOL, str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "report_html failed" in r.stderr
    assert r.stdout == ""
