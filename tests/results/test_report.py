"""`nolabel report`: the static review page, checked as HTML and in a real headless browser."""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
import pytest
from typer.testing import CliRunner

from nolabel.components.cli import build_app
from nolabel.components.common.errors import InputError
from nolabel.components.results.records import ScoreResults, load_results
from nolabel.components.results.report import heatmap_overlays, render_report, write_report


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rects = 0
        self.frames: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "img" and "heat" not in (values.get("class") or ""):
            self.images.append(values["src"])
        if tag == "rect":
            self.rects += 1
        if tag == "figure":
            self.frames.append(values)


def test_report_links_images_relative_to_the_page(scored, tmp_path):
    result = CliRunner().invoke(
        build_app(), ["report", "--results", str(scored.results), "--out", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 0, result.output
    page = tmp_path / "r.html"
    parser = _Sources()
    parser.feed(page.read_text())
    assert len(parser.images) == 6 and parser.rects == 2
    from urllib.parse import unquote

    for src in parser.images:  # every link opens the frame from the page's folder
        assert not src.startswith("/") and (page.parent / unquote(src)).is_file(), src
    order = [f["data-path"] for f in parser.frames]
    assert order[:3] == ["cam1/SEQ1_01.jpg", "cam1/SEQ1_02.jpg", "cam1/SEQ1_03.jpg"]
    text = page.read_text()
    assert "6 frames" in text and "3 bursts" in text and "failed: 1" in text
    assert "cam2/broken.jpg" in text


def test_report_embeds_thumbnails_and_heat_maps(scored, tmp_path):
    class Brightness:
        threshold = 0.5

        def predict_proba(self, images):
            return np.array([float(np.asarray(i).mean()) / 255 for i in images])

    results = load_results(scored.results)
    heat = heatmap_overlays(results, Brightness(), top=1)
    assert list(heat) == ["cam1/SEQ1_01.jpg"] and heat["cam1/SEQ1_01.jpg"].startswith(
        "data:image/png;base64,"
    )
    page = write_report(results, tmp_path / "e.html", embed=True, heatmaps=heat)
    parser = _Sources()
    parser.feed(page.read_text())
    assert all(src.startswith("data:image/jpeg;base64,") for src in parser.images)
    assert 'class="heat"' in page.read_text()


def _chromium() -> str | None:
    for name in (os.environ.get("NOLABEL_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def test_report_in_a_headless_browser(scored, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium)")
    page_path = write_report(load_results(scored.results), tmp_path / "report.html")
    problems: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.goto(Path(page_path).as_uri(), wait_until="load")
            visible = "figure.frame:not(.hidden)"
            assert page.locator(visible).count() == 6
            assert page.locator("#shown").inner_text() == "6"
            page.locator("input.verdict[value=empty]").uncheck()
            assert page.locator(visible).count() == 3
            verdicts = page.locator(visible).evaluate_all("els => els.map(e => e.dataset.verdict)")
            assert sorted(verdicts) == ["animal", "animal", "candidate"]
            assert page.locator("section.burst:not(.hidden)").count() == 1  # empty bursts hide
            page.locator("input.verdict[value=animal]").uncheck()
            page.locator("input.verdict[value=candidate]").uncheck()
            assert page.locator("#shown").inner_text() == "0"
            page.locator("input.verdict").evaluate_all("els => els.forEach(e => e.click())")
            assert page.locator(visible).count() == 6
            # every image loaded (natural size known), boxes drawn over the first frame
            loaded = page.locator("figure.frame img").evaluate_all(
                "els => els.map(e => e.complete && e.naturalWidth > 0)"
            )
            page.locator("figure.frame img").last.scroll_into_view_if_needed()
            assert page.locator("figure.frame").first.locator("rect").count() == 1
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert all(loaded) or loaded.count(False) <= 3  # lazy images below the fold may still wait
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert re.search(r"\d+ frames", page_path.read_text())


def _results_listing(root: Path, records: list[dict]) -> ScoreResults:
    """Results made directly (no load_results): render_report's own checks are what is tested."""
    return ScoreResults(root / "r.json", root, records, [], 0.5, 0.3, {}, "deer")


def _record(path: str, **fields) -> dict:
    return {"path": path, "width": 20, "height": 10, "verdict": "empty", "boxes": [], **fields}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.policy, self.inline, self._tag = "", {}, ""

    def handle_starttag(self, tag, attrs):
        values, self._tag = dict(attrs), tag
        if tag == "meta" and values.get("http-equiv") == "Content-Security-Policy":
            self.policy = values["content"]

    def handle_data(self, data):
        if self._tag in ("script", "style"):
            self.inline[self._tag] = data
        self._tag = ""


def test_report_page_allows_only_its_own_hashed_script_and_style(scored, tmp_path):
    page = _Page()
    page.feed(write_report(load_results(scored.results), tmp_path / "r.html").read_text())
    policy = dict(part.strip().split(" ", 1) for part in page.policy.split(";"))
    assert policy["default-src"] == "'none'" and policy["img-src"] == "'self' data:"
    for tag in ("script", "style"):
        digest = base64.b64encode(hashlib.sha256(page.inline[tag].encode()).digest()).decode()
        assert policy[f"{tag}-src"] == f"'sha256-{digest}'"


def test_odd_names_are_shown_escaped_and_linked_by_their_bytes(tmp_path):
    root = tmp_path / "card"
    root.mkdir()
    names = ["bad\udcffbyte.jpg", "new\nline.jpg", "<b>&.jpg"]
    for name in names:
        (root / name).write_bytes(b"x")
    out = write_report(_results_listing(root, [_record(n) for n in names]), root / "r.html")
    text = out.read_text(encoding="utf-8")
    assert "bad\\xffbyte.jpg" in text and "new\\nline.jpg" in text and "&lt;b&gt;&amp;" in text
    parser = _Sources()
    parser.feed(text)
    linked = sorted(unquote_to_bytes(html.unescape(src)) for src in parser.images)
    assert linked == sorted(os.fsencode(name) for name in names)  # the bytes on disk
    assert sorted(os.listdir(os.fsencode(root))) == sorted([*linked, b"r.html"])


@pytest.mark.parametrize(
    "fields",
    [
        {"width": "wide"},
        {"height": float("inf")},
        {"probability": "high"},
        {"boxes": [{"bbox": ["a", "b", "c", "d"], "score": 0.5}]},
        {"boxes": [{"bbox": [1, 2, 3, 4], "score": "best"}]},
        {"boxes": [{"score": 0.5}]},
    ],
)
def test_a_malformed_record_is_an_input_error_naming_it(tmp_path, fields):
    results = _results_listing(tmp_path, [_record("cam/odd\udcff.jpg", **fields)])
    with pytest.raises(InputError, match=r"'cam/odd\\xff\.jpg'"):
        render_report(results, lambda record: "x.jpg")


def test_embedded_thumbnails_never_follow_a_link_or_read_a_fifo(scored, tmp_path):
    results = load_results(scored.results)
    frame = scored.root / results.images[0]["path"]
    frame.unlink()
    frame.symlink_to(scored.root / results.images[1]["path"])  # a link to another image
    fifo = scored.root / results.images[2]["path"]
    fifo.unlink()
    os.mkfifo(fifo)  # a reader that opened it would block forever
    written: list[Path] = []
    writer = threading.Thread(
        target=lambda: written.append(write_report(results, tmp_path / "e.html", embed=True)),
        daemon=True,
    )
    writer.start()
    writer.join(timeout=60)
    assert written, "the report blocked on a FIFO"
    page = written[0]
    parser = _Sources()
    parser.feed(page.read_text())
    sources = dict(zip((f["data-path"] for f in parser.frames), parser.images, strict=True))
    assert sources.pop(results.images[0]["path"]) == ""  # the link
    assert sources.pop(results.images[2]["path"]) == ""  # the FIFO
    assert all(src.startswith("data:image/jpeg;base64,") for src in sources.values())


def test_static_report_refuses_scripts_but_its_own_in_a_headless_browser(tmp_path):
    """A polyglot PNG listed as x.html does not run from the page, and the page's policy
    refuses any script but its own hashed filter (which still works)."""
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium here (`make browser` installs Debian's chromium)")
    from tests.serve.test_report_hostile import jpeg_bytes, polyglot_png

    root = tmp_path / "card"
    root.mkdir()
    (root / "x.html").write_bytes(polyglot_png())
    (root / "y.jpg").write_bytes(jpeg_bytes())
    records = [_record("x.html"), _record("y.jpg")]
    page_path = write_report(_results_listing(root, records), tmp_path / "report.html")
    calls: list[str] = []
    problems: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, headless=True)
        try:
            context = browser.new_context()
            context.expose_binding("pwned", lambda source: calls.append("called"))
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.goto(page_path.as_uri(), wait_until="load")
            assert page.locator("#shown").inner_text() == "2"  # the hashed script ran
            loaded = page.locator("figure.frame img").evaluate_all(
                "els => els.map(e => e.complete && e.naturalWidth > 0)"
            )
            page.evaluate(  # a script injected by anything else: refused by the policy
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.pwned()'; document.body.append(s); }"
            )
            page.wait_for_timeout(300)
            title = page.title()
        finally:
            browser.close()
    assert calls == [] and title != "pwned"
    assert loaded == [True, True]
    assert problems and all("Content Security Policy" in p for p in problems)  # the refusal
