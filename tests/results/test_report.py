"""`nolabel report`: the static review page, checked as HTML and in a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nolabel.components.cli import build_app
from nolabel.components.results.records import load_results
from nolabel.components.results.report import heatmap_overlays, write_report


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
