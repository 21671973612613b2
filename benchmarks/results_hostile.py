"""Hostile cards and results files against the real CLI and a real uvicorn on loopback.

    .venv/bin/python benchmarks/results_hostile.py [--cap 30] [--only NAME ...]

Builds small generated cards (bursts named CAM01/SEQ0001_01.jpg) and a quick "pixels" classifier
in a temp dir, scores them with ``nolabel score --no-detect --no-proposals --no-burst-change``, and
runs each probe through ``.venv/bin/nolabel`` subprocesses (each killed at ``--cap`` seconds;
``pipeline``, which starts a Prefect server, at twice that) and ``nolabel serve`` (started by
serve_latency.start_server, model-less: /report needs none) with NOLABEL_API_TOKEN and
NOLABEL_SERVE_REPORT_RESULTS. One line per probe: name, ``safe``/``UNSAFE`` (``n/a``: nothing to
judge, e.g. a lost race) and what happened. Outcomes are measured, never assumed: the same
command runs before and after fixes. Probes (``--only``): link_swap, polyglot, outside,
odd_names, scan_race, malformed, sort_misc, pipeline.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import hashlib
import html
import io
import json
import operator
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image, PngImagePlugin

REPO = Path(__file__).resolve().parents[1]
NOLABEL = str(REPO / ".venv" / "bin" / "nolabel")
TOKEN = "hostile-token"
SECRET = b"TOP-SECRET-" + os.urandom(6).hex().encode()
SCORE_OPTIONS = ("--no-detect", "--no-proposals", "--no-burst-change")
Row = tuple[str, str, str]


@dataclass
class Run:
    """One CLI run: exit code (None: killed at the cap), output and wall time."""

    rc: int | None
    out: str
    err: str
    seconds: float

    @property
    def tb(self) -> bool:
        text = self.err + self.out
        return "Traceback" in text or re.search(r'^\s*File ".*", line \d+', text, re.M) is not None

    def last(self) -> str:
        lines = [line for line in (self.err + self.out).splitlines() if line.strip()]
        return lines[-1][:110] if lines else ""

    def __str__(self) -> str:
        code = "killed" if self.rc is None else self.rc
        return f"rc={code}{' TRACEBACK' if self.tb else ''} {self.seconds:.1f}s"


@dataclass
class Ctx:
    work: Path
    cap: float
    env: dict[str, str]
    classifier: Path
    secret: Path  # text holding SECRET
    secret_image: Path  # a 123x77 PNG outside every card


def row(name: str, unsafe: bool, detail: str) -> Row:
    return (name, "UNSAFE" if unsafe else "safe", detail)


def cli(ctx: Ctx, *args: Any, cap: float | None = None, env: dict | None = None) -> Run:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [NOLABEL, *map(str, args)], cwd=ctx.work, env=env or ctx.env, capture_output=True,
            timeout=cap or ctx.cap, text=True, errors="replace",
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out, err = (x.decode(errors="replace") if x else "" for x in (exc.stdout, exc.stderr))
        return Run(None, out, err, time.monotonic() - started)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def score(ctx: Ctx, card: Path, out: Path, *extra: Any) -> Run:
    options = ["--classifier", ctx.classifier, *SCORE_OPTIONS, *extra]
    return cli(ctx, "score", "--images", card, "--out", out, *options)


def sort(ctx: Ctx, results: Path, into: Path) -> Run:
    return cli(ctx, "sort", "--results", results, "--into", into, "--mode", "copy")


def dump(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload))
    return path


def write_frame(path: Path | bytes, seed: int, size=(64, 48), fmt: str = "JPEG", **kw) -> None:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **kw)
    raw = os.fsencode(path)
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(raw, "wb") as handle:
        handle.write(buffer.getvalue())


def make_card(root: Path, count: int, size=(64, 48), fmt: str = "JPEG") -> list[str]:
    """``count`` frames in bursts of three: CAM01/SEQ0001_01.jpg, ... (sorted)."""
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    rels = [f"CAM01/SEQ{i // 3 + 1:04d}_{i % 3 + 1:02d}{suffix}" for i in range(count)]
    for seed, rel in enumerate(rels):
        write_frame(root / rel, seed, size, fmt)
    return rels


def scored(ctx: Ctx, name: str, count: int = 3) -> tuple[Path, Path, list[str], dict]:
    """A fresh probe dir with a card of ``count`` frames scored into out/results.json."""
    card, out = ctx.work / name / "card", ctx.work / name / "out" / "results.json"
    rels = make_card(card, count)
    run = score(ctx, card, out)
    if run.rc != 0 or not out.exists():
        raise RuntimeError(f"scoring the good card failed: {run} {run.last()}")
    return card, out, rels, json.loads(out.read_text())


def tree(root: Path) -> dict[bytes, bytes]:
    """Every entry under ``root``: a link's target, a file's hash (links not followed)."""
    found: dict[bytes, bytes] = {}
    for folder, dirs, files in os.walk(os.fsencode(root)):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                found[path] = b"->" + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    found[path] = hashlib.sha1(handle.read()).digest()
    return found


@contextlib.contextmanager
def served(ctx: Ctx, results: Path) -> Iterator[Any]:
    """``nolabel serve`` on a free port showing ``results``; an httpx client with the token."""
    import httpx
    from serve_latency import start_server

    from tests.conftest import free_port

    port = free_port()
    env = {key: value for key, value in ctx.env.items() if key.startswith("NOLABEL_")}
    env |= {"NOLABEL_API_TOKEN": TOKEN, "NOLABEL_SERVE_REPORT_RESULTS": str(results)}
    env |= {"NOLABEL_SERVE_REQUIRE_DETECTOR": "false", "NOLABEL_SERVE_PROPOSALS": "false"}
    log = results.parent / "server.log"
    try:
        server = start_server(env, port, log)
    except RuntimeError as exc:  # it exited: say why
        raise RuntimeError(f"{exc}: {log.read_text().strip().splitlines()[-1][:160]}") from None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers=headers, timeout=ctx.cap) as client:
            yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


def http(response: Any) -> str:
    """Status, content-type and, for a JSON error, its code."""
    kind = response.headers.get("content-type", "-").split(";")[0]
    code = ""
    if kind == "application/json" and response.status_code >= 400:
        with contextlib.suppress(ValueError, AttributeError):
            code = f" ({response.json().get('code')})"
    return f"{response.status_code} {kind}{code}"


def guards(response: Any) -> str:
    """Whether a response carries CSP, X-Frame-Options and ``X-Content-Type-Options: nosniff``."""
    headers = response.headers
    nosniff = headers.get("x-content-type-options", "").lower() == "nosniff"
    found = {"CSP": "content-security-policy" in headers, "XFO": "x-frame-options" in headers}
    found["nosniff"] = nosniff
    return " ".join(f"{name}={'yes' if there else 'no'}" for name, there in found.items())


# -- probes ------------------------------------------------------------------------------------
def probe_link_swap(ctx: Ctx) -> list[Row]:
    card, out, rels, _ = scored(ctx, "link_swap", 6)
    (card / rels[1]).unlink()
    (card / rels[1]).symlink_to(ctx.secret)
    with served(ctx, out) as client:
        response = client.get("/report/files/" + quote(rels[1]))
    leaked = SECRET in response.content
    detail = f"GET swapped frame -> {http(response)}; secret {'READ' if leaked else 'not read'}"
    return [row("1 link swapped in after scoring", leaked, detail)]


def probe_polyglot(ctx: Ctx) -> list[Row]:
    base, names = ctx.work / "polyglot", ("polyglot.html", "polyglot.js")
    card, out = base / "card", base / "out" / "results.json"
    make_card(card, 3)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    for name in names:
        write_frame(card / name, 7, (64, 48), "PNG", pnginfo=info)
    run = score(ctx, card, out)
    if not out.exists():  # the card refused: score the good frames, list the polyglots by hand
        for name in names:
            (card / name).rename(base / name)
        score(ctx, card, out)
        for name in names:
            (base / name).rename(card / name)
    payload = json.loads(out.read_text())
    clean = dump(out.with_name("clean.json"), payload)  # as score wrote it: the page's headers
    added = [n for n in names if n not in {r["path"] for r in payload["images"]}]
    for name in added:  # not scored as frames: listed by hand, the worst case for /report
        payload["images"].append({**payload["images"][0], "path": name})
    dump(out, payload)
    rows = []
    with served(ctx, clean) as client:
        page = client.get("/report")
    with served(ctx, out) as client:
        for name in names:
            response = client.get("/report/files/" + name)
            kind = response.headers.get("content-type", "")
            unsafe = response.status_code == 200 and not kind.startswith("image/")
            how = "listed by hand" if name in added else "scored"
            said = f" ({run.last()[:60]})" if run.rc else ""
            detail = f"score {run}{said}; {how}; GET -> {http(response)} [{guards(response)}]"
            rows.append(row(f"2 polyglot {name}", unsafe, detail))
    headers = ("content-security-policy", "x-content-type-options", "x-frame-options")
    bare = page.status_code == 200 and not all(page.headers.get(h) for h in headers)
    return rows + [row("2 /report page headers", bare, f"{http(page)} [{guards(page)}]")]


def probe_outside(ctx: Ctx) -> list[Row]:
    card, out, _, good = scored(ctx, "outside/cards")  # root: outside/cards/card
    base = ctx.work / "outside"
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    evil, rows = "../../outside/secret.txt", []
    for where in ("failures", "images"):
        payload = copy.deepcopy(good)
        record = {**good["images"][0], "path": evil, "verdict": "animal"}
        if where == "failures":
            record = {"path": evil, "reason": "undecodable", "message": "x"}
        payload[where].append(record)
        hand, into = (
            dump(out.with_name(f"{where}.json"), payload),
            base / f"sorted-{where}" / "into",
        )
        before = tree(base)
        run = sort(ctx, hand, into)
        new = [p for p in set(tree(base)) - set(before) if not p.startswith(os.fsencode(into))]
        made = [*tree(into), *new]  # the secret copied anywhere (links not followed)
        copied = any(not os.path.islink(p) and SECRET in Path(os.fsdecode(p)).read_bytes()
                     for p in made if os.path.isfile(p))  # fmt: skip
        detail = f"sort {run}; new files outside INTO: {len(new)}; secret copied: {copied}"
        rows.append(row(f"3 sort, {where}[].path ../..", bool(new) or copied, detail))
    passwd = Path("/etc/passwd").read_bytes()[:40]
    payload = {**good, "root": "/", "failures": []}
    payload["images"] = [{**good["images"][0], "path": "etc/passwd", "verdict": "animal"}]
    hand = dump(out.with_name("root.json"), payload)
    report = cli(ctx, "report", "--results", hand, "--out", base / "root.html")
    in_page = (base / "root.html").exists() and passwd in (base / "root.html").read_bytes()
    export = cli(ctx, "export", "--results", hand)
    exported = [p for p in out.parent.glob("root.*") if p != hand]
    in_exports = any(passwd in p.read_bytes() for p in exported)
    with served(ctx, hand) as client:
        response = client.get("/report/files/etc/passwd")
    detail = (f"report {report}, passwd in page: {in_page}; export {export}, in exports: "
              f"{in_exports}; GET /report/files/etc/passwd -> {http(response)}")  # fmt: skip
    unsafe = in_page or in_exports or passwd in response.content or report.tb or export.tb
    return rows + [row('3 root "/" + etc/passwd', unsafe, detail)]


def probe_odd_names(ctx: Ctx) -> list[Row]:
    base = ctx.work / "odd_names"
    card, out = base / "card", base / "out" / "results.json"
    make_card(card, 3)
    write_frame(os.fsencode(card) + b"/bad\xffbyte.jpg", 11)
    write_frame(card / "new\nline.jpg", 12)
    run = score(ctx, card, out)
    parts = [p for p in tree(base) if p.endswith(b".part")]
    detail = f"score {run}; results written: {out.exists()}; leftover *.part: {len(parts)}"
    rows = [row("4 odd names: score", run.tb or run.rc is None or bool(parts), detail)]
    if not out.exists():
        return rows + [("4 odd names: report/export", "n/a", "no results.json to read")]
    report = cli(ctx, "report", "--results", out, "--out", base / "report.html")
    export = cli(ctx, "export", "--results", out)
    detail = f"report {report}; export {export}"
    rows.append(row("4 odd names: report/export", report.tb or export.tb, detail))
    with served(ctx, out) as client:
        page = client.get("/report")
        sources = [html.unescape(s) for s in re.findall(r'<img[^>]*?\ssrc="([^"]*)"', page.text)]
        shown, statuses = [], [page.status_code]
        for key in ("new", "bad"):
            src = next((s for s in sources if key in s), None)
            frame = client.get("/" + src) if src else None
            statuses.append(frame.status_code if frame else 0)
            shown.append(f"{key}… frame's URL -> {http(frame) if frame else 'no <img> for it'}")
    detail = f"/report -> {http(page)}; " + "; ".join(shown)
    return rows + [row("4 odd names: /report", max(statuses) >= 500, detail)]


def _race(ctx: Ctx, kind: str) -> Row:
    base = ctx.work / "scan_race" / kind
    card, out = base / "card", base / "out" / "results.json"
    rels = sorted(make_card(card, 60, size=(640, 480), fmt="PNG"))  # PNG: no reduced decode
    partial = out.with_name(out.name + ".partial.jsonl")
    options = ["--classifier", ctx.classifier, *SCORE_OPTIONS, "--batch-size", "4"]
    command = [NOLABEL, "score", "--images", card, "--out", out, *options]
    started, last = time.monotonic(), card / rels[-1]
    with (base / "stderr.txt").open("w+") as err:
        process = subprocess.Popen(list(map(str, command)), cwd=ctx.work, env=ctx.env,
                                   stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        while process.poll() is None and not partial.exists():
            if time.monotonic() - started > ctx.cap:
                break
            time.sleep(0.002)
        last.unlink()
        if kind == "fifo":
            os.mkfifo(last)
        else:
            last.symlink_to(ctx.secret_image)
        lost = process.poll() is not None or (partial.exists() and rels[-1] in partial.read_text())
        try:
            process.wait(timeout=max(1.0, ctx.cap - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        hung = process.returncode < 0
        err.seek(0)
        run = Run(None if hung else process.returncode, "", err.read(), time.monotonic() - started)
    name = f"5 {kind} swapped in after the scan"
    if hung:
        return (name, "UNSAFE", f"score hung past the cap ({ctx.cap:.0f}s), killed")
    if lost:
        return (name, "n/a", f"race lost (last frame read before the swap); score {run}")
    payload = json.loads(out.read_text()) if out.exists() else {"images": [], "failures": []}
    image = next((r for r in payload["images"] if r["path"] == rels[-1]), None)
    failure = next((f for f in payload["failures"] if f["path"] == rels[-1]), None)
    seen = f"failure {failure.get('reason')!r}" if failure else "not listed"
    if image is not None:
        seen = f"listed as an IMAGE {image.get('width')}x{image.get('height')}"
    target_scored = image is not None and kind == "link"
    return row(name, run.tb or target_scored, f"score {run}; last frame: {seen}")


def probe_scan_race(ctx: Ctx) -> list[Row]:
    return [_race(ctx, "fifo"), _race(ctx, "link")]


def _mutant(good: dict, *keys_value: Any) -> dict:
    """A copy of ``good`` with the item at ``keys`` set to ``value`` (the last argument)."""
    payload = copy.deepcopy(good)
    *keys, last, value = keys_value
    functools.reduce(operator.getitem, keys, payload)[last] = value
    return payload


def probe_malformed(ctx: Ctx) -> list[Row]:
    card, out, _, good = scored(ctx, "malformed")
    good["images"][0]["boxes"] = [{"bbox": [1, 1, 20, 20], "score": 0.9, "detector_score": 0.9}]
    good["failures"].append({"path": "CAM01/gone.jpg", "reason": "undecodable", "message": "x"})
    mutants: dict[str, Any] = {
        "width abc": _mutant(good, "images", 0, "width", "abc"),
        'box score "x"': _mutant(good, "images", 0, "boxes", 0, "score", "x"),
        'bbox "abc"': _mutant(good, "images", 0, "boxes", 0, "bbox", "abc"),
        "burst 123": _mutant(good, "images", 0, "burst", 123),
        "failure w/o message": _mutant(good, "failures", -1, "message", None),
        "file []": [],
        "file 123": 123,
    }
    mutants["failure w/o message"]["failures"][-1].pop("message")
    cases = {name: json.dumps(value).encode() for name, value in mutants.items()}
    raw = json.dumps(good).encode()
    cases["invalid UTF-8"] = raw.replace(b'"root": "', b'"root": "\xff\xfe', 1)
    rows = []
    for index, (name, raw) in enumerate(cases.items()):
        base = ctx.work / "malformed" / f"case{index}"
        base.mkdir(parents=True)
        results = base / "results.json"
        results.write_bytes(raw)
        report = cli(ctx, "report", "--results", results, "--out", base / "report.html")
        export = cli(ctx, "export", "--results", results)
        changed = results.read_bytes() != raw
        run = sort(ctx, results, base / "into")
        detail = f"report {report}; export {export}; sort {run}; results.json changed: {changed}"
        unsafe = report.tb or export.tb or run.tb or changed
        rows.append(row(f"6 malformed: {name}", unsafe, detail))
    out.with_name(out.name + ".partial.jsonl").write_bytes(b'[]\n123\n\xff\xfe\n{"path": 5}\n')
    run = score(ctx, card, out, "--resume")
    detail = f"score --resume {run}; results written: {out.exists()}"
    return rows + [row("6 malformed partial log", run.tb or run.rc is None, detail)]


def probe_sort_misc(ctx: Ctx) -> list[Row]:
    card, out, _, good = scored(ctx, "sort_misc")
    base, rows = ctx.work / "sort_misc", []
    for verdict in ("animal", "candidate"):
        payload = copy.deepcopy(good)
        for record in payload["images"]:
            record.update(verdict=verdict, positive=verdict == "animal")
        dump(out.with_name(f"{verdict}.json"), payload)
    into = base / "into_a"
    first = sort(ctx, out.with_name("animal.json"), into)
    copies = sorted(p for p in (into / "animal").rglob("*") if p.is_file())
    if copies:
        copies[0].write_bytes(b"EDITED BY HAND")
        again = sort(ctx, out.with_name("animal.json"), into)
        lost = not copies[0].is_file() or copies[0].read_bytes() != b"EDITED BY HAND"
        said = copies[0].name in again.err + again.out
        detail = (f"sort {first}, again {again}; edit kept: {not lost}; named in output: "
                  f"{said}: ...{(again.err or again.out).strip()[-70:]}")  # fmt: skip
        rows.append(row("7a edited copy, sort again", lost and not said, detail))
    else:
        rows.append(("7a edited copy, sort again", "n/a", f"sort {first}: no copy in animal/"))
    (base / "into_b").mkdir()
    (base / "into_b" / "review").symlink_to(card / "CAM01", target_is_directory=True)
    before = tree(card)
    run = sort(ctx, out.with_name("candidate.json"), base / "into_b")
    after = tree(card)
    touched = sum(after.get(k) != v for k, v in before.items()) + len(set(after) - set(before))
    detail = f"sort {run}; card entries changed/added/removed: {touched}: {run.last()}"
    rows.append(row("7b INTO/review links into the card", touched > 0, detail))
    (base / "a_file").write_text("x")
    run = sort(ctx, out, base / "a_file")
    rows.append(row("7c --into a regular file", run.tb, f"sort {run}: {run.last()}"))
    if os.geteuid() == 0:
        rows.append(("7c read-only INTO", "n/a", "skipped: running as root (no EACCES)"))
    else:
        (base / "locked").mkdir(mode=0o555)
        run = sort(ctx, out, base / "locked")
        rows.append(row("7c read-only INTO", run.tb, f"sort {run}: {run.last()}"))
    rows.append(_same_stem(ctx))
    payload = copy.deepcopy(good)
    payload["images"].append(copy.deepcopy(payload["images"][0]))
    run = sort(ctx, dump(out.with_name("dup.json"), payload), base / "into_e")
    return rows + [row("7e duplicated image path", run.tb, f"sort {run}: {run.last()}")]


def _same_stem(ctx: Ctx) -> Row:
    base = ctx.work / "same_stem"
    card, out = base / "card", base / "out" / "results.json"
    write_frame(card / "x.jpg", 1, (200, 100))
    write_frame(card / "x.png", 2, (200, 100), "PNG")
    if score(ctx, card, out).rc != 0:
        raise RuntimeError("scoring x.jpg/x.png failed")
    payload = json.loads(out.read_text())
    for record in payload["images"]:
        box = {"bbox": [10, 10, 100, 80], "score": 0.9, "detector_score": 0.9}
        record.update(verdict="animal", positive=True, boxes=[box], animal_score=0.9)
    run = cli(ctx, "export", "--results", dump(out, payload), "--crops", base / "crops")
    files = [p for p in (base / "crops").rglob("*") if p.is_file() and p.suffix != ".csv"]
    table = base / "crops" / "crops.csv"
    lines = table.read_text().splitlines()[1:] if table.exists() else []
    names = [line.split(",")[0] for line in lines]
    unsafe = run.tb or len(names) != len(set(names)) or (run.rc == 0 and len(files) < 2)
    detail = f"export {run}; crop files {len(files)} for 2 boxes; crops.csv names {names}"
    return row("7d x.jpg + x.png export --crops", unsafe, detail)


def probe_pipeline(ctx: Ctx) -> list[Row]:
    from tests.conftest import free_port

    env = {**ctx.env, "NOLABEL_S3_ENDPOINT": f"127.0.0.1:{free_port()}",
           "NOLABEL_S3_ACCESS_KEY": "x", "NOLABEL_S3_SECRET_KEY": "y",
           "NOLABEL_S3_CONNECT_TIMEOUT": "1", "NOLABEL_S3_RETRIES": "0"}  # fmt: skip
    args = ["pipeline", "--dataset", "hostile", "--positive", "lion"]
    run = cli(ctx, *args, env=env, cap=2 * ctx.cap)
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    detail = f"pipeline {run}; 'error:' lines: {len(errors)}: {errors[0][:80] if errors else ''}"
    return [row("8 pipeline, unreachable S3", run.tb or run.rc is None, detail)]


PROBES: dict[str, Callable[[Ctx], list[Row]]] = {
    name.removeprefix("probe_"): probe
    for name, probe in globals().items()
    if name.startswith("probe_")
}


def setup(cap: float) -> Ctx:
    """Temp work dir and NOLABEL_HOME, a pixels classifier, the secret files."""
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    work = Path(tempfile.mkdtemp(prefix="results-hostile-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOLABEL_")}
    env |= {"NOLABEL_HOME": str(work / "home"), "PYTHONUNBUFFERED": "1"}
    os.environ["NOLABEL_HOME"] = env["NOLABEL_HOME"]
    rng = np.random.default_rng(5)
    positives = [np.full((32, 32, 3), 200, np.uint8) for _ in range(8)]
    negatives = [rng.integers(0, 60, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    train_classifier_from_arrays(
        positives + negatives, [1] * 8 + [0] * 8, backbone="pixels", input_size=32,
        register=False, model_dir=work / "classifier",
    )  # fmt: skip
    (work / "secret").mkdir()
    (work / "secret" / "secret.txt").write_bytes(SECRET)
    write_frame(work / "secret" / "private.png", 99, (123, 77), "PNG")
    secrets = work / "secret" / "secret.txt", work / "secret" / "private.png"
    return Ctx(work, cap, env, work / "classifier", *secrets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=30.0, help="Longest wait per CLI run (s).")
    parser.add_argument("--only", nargs="+", choices=sorted(PROBES), help="Run only these.")
    args = parser.parse_args()
    sys.path[:0] = [str(REPO), str(Path(__file__).parent)]
    started = time.monotonic()
    ctx = setup(args.cap)
    print(f"work dir {ctx.work}; cap {args.cap:.0f}s", flush=True)
    for name in args.only or list(PROBES):
        begun = time.monotonic()
        try:
            rows = PROBES[name](ctx)
        except Exception as exc:  # one broken probe must not stop the others
            rows = [(name, "n/a", f"probe error: {type(exc).__name__}: {exc}"[:300])]
        for probe, outcome, detail in rows:
            print(f"{probe:<34} {outcome:<6} {detail}", flush=True)
        print(f"{'':<41} ({name}: {time.monotonic() - begun:.0f}s)", flush=True)
    print(f"total {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
