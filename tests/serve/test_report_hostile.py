"""``/report`` of a real ``nolabel serve`` on 127.0.0.1 (token set) against a hostile card and
hostile results: links and FIFOs swapped in after scoring, polyglot frames, names that are not
UTF-8 or hold a newline, malformed results files."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tests.results.test_report import _chromium
from tests.serve.real_models import Server, TrainedModels, running_server

TOKEN = "report-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POLYGLOT_SCRIPT = b"<script>document.title='pwned';window.pwned&&window.pwned()</script>"


def jpeg_bytes(colour: tuple[int, int, int] = (40, 90, 140)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def polyglot_png() -> bytes:
    """A valid PNG whose text chunk is a script: run if anything serves it as HTML."""
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 30)).save(buffer, format="PNG")
    png = buffer.getvalue()
    body = b"tEXt" + b"Comment\x00" + POLYGLOT_SCRIPT
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:33] + chunk + png[33:]  # after the signature and IHDR


def record(path: str) -> dict:
    return {"path": path, "width": 20, "height": 10, "verdict": "empty", "boxes": []}


@dataclass
class ReportServer:
    server: Server
    results: Path
    base: Path
    version: int = 0

    def publish(self, names: dict[str, bytes], records: list[dict] | None = None) -> Path:
        """A fresh card holding ``names`` (bytes written as given) and results listing them."""
        self.version += 1
        root = self.base / f"card{self.version}"
        root.mkdir()
        for name, data in names.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        listed = records if records is not None else [record(n) for n in names]
        self.write_results(json.dumps({"root": str(root), "images": listed}).encode())
        return root

    def write_results(self, payload: bytes) -> None:
        """Replace the results file (a new inode: the server re-reads it)."""
        part = self.results.with_name("results.part")
        part.write_bytes(payload)
        os.replace(part, self.results)

    def get(self, path: str, **kwargs):
        return self.server.http.get(path, headers=AUTH, **kwargs)


@pytest.fixture(scope="module")
def report_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportServer]:
    base = tmp_path_factory.mktemp("report-hostile")
    results = base / "results.json"
    results.write_text(json.dumps({"root": str(base), "images": []}))
    home = base / "home"
    env = {
        "NOLABEL_API_TOKEN": TOKEN,
        "NOLABEL_SERVE_REPORT_RESULTS": str(results),
        "NOLABEL_MODEL_REFRESH_SECONDS": "0",
        "NOLABEL_SERVE_PROPOSALS": "false",
    }
    no_models = TrainedModels(home, classifier_version="", detector_version=None)
    with running_server(no_models, base / "server.log", env) as server:
        yield ReportServer(server, results, base)


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
            self._in_script = False


def _sources(text: str) -> _Sources:
    parser = _Sources()
    parser.feed(text)
    return parser


def test_a_link_or_fifo_swapped_in_after_scoring_is_not_served(report_server, tmp_path):
    root = report_server.publish(
        {"CAM02/SEQ0012_03.jpg": jpeg_bytes(), "CAM03/a.jpg": jpeg_bytes(), "CAM04/f.jpg": b"x"}
    )
    served = report_server.get("/report/files/CAM02/SEQ0012_03.jpg")
    assert served.status_code == 200 and served.content == jpeg_bytes()
    frame = root / "CAM02" / "SEQ0012_03.jpg"
    frame.unlink()
    frame.symlink_to("/etc/passwd")
    linked = report_server.get("/report/files/CAM02/SEQ0012_03.jpg")
    assert linked.status_code == 404 and linked.json()["code"] == "frame_missing"
    assert b"root:" not in linked.content
    # a folder on the way swapped for a link to a folder holding the same name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.jpg").write_bytes(jpeg_bytes((255, 0, 0)))
    (root / "CAM03" / "a.jpg").unlink()
    (root / "CAM03").rmdir()
    (root / "CAM03").symlink_to(elsewhere)
    via_folder = report_server.get("/report/files/CAM03/a.jpg")
    assert via_folder.status_code == 404 and via_folder.json()["code"] == "frame_missing"
    # a FIFO (would block a reader forever) and a folder
    (root / "CAM04" / "f.jpg").unlink()
    os.mkfifo(root / "CAM04" / "f.jpg")
    fifo = report_server.get("/report/files/CAM04/f.jpg", timeout=10)
    assert fifo.status_code == 404 and fifo.json()["code"] == "frame_missing"
    (root / "CAM04" / "f.jpg").unlink()
    (root / "CAM04" / "f.jpg").mkdir()
    folder = report_server.get("/report/files/CAM04/f.jpg")
    assert folder.status_code == 404 and folder.json()["code"] == "frame_missing"


def test_frames_are_served_as_what_their_bytes_are(report_server):
    report_server.publish(
        {
            "x/polyglot.jpg": polyglot_png(),
            "x/photo.png": jpeg_bytes(),
            "x/notes.jpg": b"<html><script>alert(1)</script></html>",
        }
    )
    png = report_server.get("/report/files/x/polyglot.jpg")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == polyglot_png()
    assert png.headers["content-disposition"] == 'inline; filename="polyglot.png"'
    assert png.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in png.headers["content-security-policy"]
    photo = report_server.get("/report/files/x/photo.png")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    text = report_server.get("/report/files/x/notes.jpg")
    assert text.status_code == 415 and text.json()["code"] == "not_an_image"
    assert b"<script>" not in text.content


@pytest.mark.parametrize("name", ["polyglot.html", "polyglot.js", "polyglot.svg"])
def test_a_frame_named_as_a_page_or_script_is_never_served_as_one(report_server, name):
    """Listed under a page's or a script's name: refused with the results (a stricter
    load_results) or served as the PNG it is — never as text/html or a script."""
    report_server.publish({name: polyglot_png()})
    served = report_server.get(f"/report/files/{name}")
    if served.status_code == 422:
        assert served.json()["code"] == "bad_results"
    else:
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"


def test_every_response_carries_the_security_headers(report_server):
    report_server.publish({"a.jpg": jpeg_bytes()})
    http = report_server.server.http
    responses = {
        "page": report_server.get("/report"),
        "frame": report_server.get("/report/files/a.jpg"),
        "unlisted": report_server.get("/report/files/b.jpg"),
        "no token": http.get("/report"),
        "health": http.get("/healthz"),
        "unknown route": http.get("/nowhere"),
        "wrong method": http.put("/report", headers=AUTH),
    }
    for what, response in responses.items():
        assert response.headers.get("x-content-type-options") == "nosniff", what
        assert response.headers.get("x-frame-options") == "DENY", what
        assert response.headers.get("content-security-policy"), what
    assert responses["unlisted"].status_code == 404 and responses["no token"].status_code == 401
    page = responses["page"]
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["img-src"] == "'self' data:" and "unsafe" not in policy["script-src"]
    (inline,) = _sources(page.text).scripts  # the verdict filter: allowed by its hash only
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"


def test_names_not_utf8_or_with_a_newline_are_listed_and_served(report_server):
    names = {"bad\udcffbyte.jpg": jpeg_bytes((1, 2, 3)), "new\nline.jpg": jpeg_bytes((9, 8, 7))}
    root = report_server.publish(names)
    assert sorted(os.listdir(os.fsencode(root))) == [b"bad\xffbyte.jpg", b"new\nline.jpg"]
    page = report_server.get("/report")
    assert page.status_code == 200, page.text
    assert "bad\\xffbyte.jpg" in page.text and "new\\nline.jpg" in page.text  # shown escaped
    sources = _sources(page.text).images
    assert sorted(sources) == ["report/files/bad%25FFbyte.jpg", "report/files/new%250Aline.jpg"]
    for src in sources:
        served = report_server.get("/" + src)
        assert served.status_code == 200, (src, served.text)
        assert served.headers["content-type"] == "image/jpeg", src
    assert report_server.get("/report/files/bad%25FFbyte.jpg").content == names["bad\udcffbyte.jpg"]
    assert report_server.get("/report/files/new%250Aline.jpg").content == names["new\nline.jpg"]
    assert report_server.get("/report/files/bad%FFbyte.jpg").status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{not json", id="unreadable-json"),
        pytest.param(b'{"images": [{"path": "a\xff.jpg"}]}', id="non-utf8-bytes"),
        pytest.param({"width": "wide"}, id="string-width"),
        pytest.param({"width": 1e400}, id="infinite-width"),
        pytest.param({"boxes": [{"bbox": ["a", "b", "c", "d"], "score": 0.5}]}, id="text-box"),
        pytest.param({"boxes": [{"bbox": [1, 2, 3], "score": 0.5}]}, id="three-number-box"),
        pytest.param({"probability": "high"}, id="string-probability"),
        pytest.param({"boxes": 5}, id="boxes-not-a-list"),
    ],
)
def test_malformed_results_answer_a_json_422(report_server, payload):
    report_server.publish({"a.jpg": jpeg_bytes()})
    if isinstance(payload, bytes):
        report_server.write_results(payload)
    else:
        root = report_server.base / f"card{report_server.version}"
        bad = {**record("a.jpg"), **payload}
        text = json.dumps({"root": str(root), "images": [bad]}).replace("Infinity", "1e400")
        report_server.write_results(text.encode())
    page = report_server.get("/report")
    assert page.status_code == 422, page.text
    assert page.json()["code"] == "bad_results" and page.json()["detail"]
    assert page.headers["content-type"] == "application/json"


def test_a_polyglot_frame_does_not_run_in_a_browser(report_server):
    """The page and the frame's own URL opened in Chromium: the script in the PNG never runs
    (listed as x.jpg, or as x.html), while the page's own hashed filter script does."""
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium here (`make browser` installs Debian's chromium)")
    url = report_server.server.url
    calls: list[str] = []
    problems: list[str] = []
    titles: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, headless=True)
        try:
            context = browser.new_context(extra_http_headers=AUTH)
            context.expose_binding("pwned", lambda source: calls.append(source["page"].url))
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            # (a refused x.html and the favicon log "Failed to load resource": expected)
            page.on("pageerror", lambda e: problems.append(str(e)))
            report_server.publish({"x.jpg": polyglot_png(), "y.jpg": jpeg_bytes()})
            page.goto(url + "/report", wait_until="load")
            assert page.locator("#shown").inner_text() == "2"  # the filter script ran
            loaded = page.locator("figure.frame img").evaluate_all(
                "els => els.map(e => e.complete && e.naturalWidth > 0)"
            )
            titles.append(page.title())
            page.goto(url + "/report/files/x.jpg", wait_until="load")
            titles.append(page.title())
            frame_html = page.content()
            report_server.publish({"x.html": polyglot_png(), "y.jpg": jpeg_bytes()})
            for path in ("/report", "/report/files/x.html"):  # refused or an image
                page.goto(url + path, wait_until="load")
                titles.append(page.title())
        finally:
            browser.close()
    assert calls == [] and "pwned" not in titles, titles
    assert loaded == [True, True]
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []
    assert "<img" in frame_html and "document.title" not in frame_html  # an image view


def test_a_rendering_failure_is_a_json_500_naming_it(make_client, monkeypatch, tmp_path):
    from nolabel.components.serve import report as report_route

    (tmp_path / "a.jpg").write_bytes(jpeg_bytes())
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"root": str(tmp_path), "images": [record("a.jpg")]}))
    client = make_client(serve={"report_results": str(results)})
    assert client.get("/report").status_code == 200

    def broken(*args, **kwargs):
        raise RecursionError("too deep")

    monkeypatch.setattr(report_route, "render_report", broken)
    failed = client.get("/report")
    assert failed.status_code == 500 and failed.json()["code"] == "report_failed"
    assert "RecursionError: too deep" in failed.json()["detail"]
    assert "Traceback" not in failed.text and failed.headers["x-content-type-options"]

    def malformed(*args, **kwargs):
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(report_route, "load_results", malformed)
    os.utime(results, ns=(1, 1))  # changed: re-read
    refused = client.get("/report")
    assert refused.status_code == 422 and refused.json()["code"] == "bad_results"
