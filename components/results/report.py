"""``nolabel report``: one static HTML page to review score results — no server needed.

Counts at the top, a filter by verdict, bursts grouped (the most likely first, frames within a
burst by probability), boxes drawn over each frame (SVG, so they scale with the image) and the
LIME heat map of a frame where one was computed. Images are linked relatively to the page, or
embedded as thumbnails (``embed``); ``nolabel serve`` renders the same page at ``/report``.

A results file is input like any other: every name is shown escaped and printable (a non-UTF-8
byte as ``\\xff``, a newline as ``\\n``), linked by its exact bytes percent-encoded, frames are
read only as regular files (:mod:`nolabel.components.common.safe_files`), a malformed record is an
:class:`InputError` naming it, and the page carries a Content-Security-Policy that lets only its
own hashed script and style run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.common.safe_files import read_regular
from nolabel.components.lime.contract import LimeParams
from nolabel.components.results.names import printable, url_path
from nolabel.components.results.records import VERDICTS, ScoreResults

THUMB_SIDE = 360
STYLE = """
body{font-family:system-ui,sans-serif;margin:1rem;background:#fafafa;color:#222}
header{position:sticky;top:0;background:#fafafa;padding:.5rem 0;border-bottom:1px solid #ccc}
.counts span{margin-right:1rem}.filters label{margin-right:1rem;cursor:pointer}
.burst{margin:1rem 0;padding:.5rem;background:#fff;border:1px solid #ddd;border-radius:6px}
.burst h2{font-size:1rem;margin:.2rem 0}.frames{display:flex;flex-wrap:wrap;gap:.5rem}
figure{margin:0;width:360px}.pic{position:relative;line-height:0}
.pic img{width:100%;height:auto}
.pic svg,.pic .heat{position:absolute;left:0;top:0;width:100%;height:100%}
.heat{opacity:.5;display:none}body.heat-on .heat{display:block}
rect{fill:none;stroke:#0f0;stroke-width:3px;vector-effect:non-scaling-stroke}
rect.weak{stroke-width:1.5px;stroke-dasharray:5 4;opacity:.7}
figcaption{font-size:.8rem;line-height:1.3;padding:.2rem}
.animal figcaption{background:#d8f5d0}.candidate figcaption{background:#fff2c2}
.empty figcaption{background:#eee}.hidden{display:none}
"""
SCRIPT = """
function applyFilter(){
  const on=new Set([...document.querySelectorAll('input.verdict:checked')].map(e=>e.value));
  let shown=0;
  document.querySelectorAll('figure.frame').forEach(f=>{
    const v=on.has(f.dataset.verdict);f.classList.toggle('hidden',!v);if(v)shown++;});
  document.querySelectorAll('section.burst').forEach(b=>{
    b.classList.toggle('hidden',!b.querySelector('figure.frame:not(.hidden)'));});
  document.getElementById('shown').textContent=shown;
}
document.querySelectorAll('input.verdict').forEach(e=>e.addEventListener('change',applyFilter));
const heat=document.getElementById('heat');
if(heat)heat.addEventListener('change',()=>document.body.classList.toggle('heat-on',heat.checked));
applyFilter();
"""
SrcFor = Callable[[dict[str, Any]], str]
# What a record of a hand-edited results file can raise when it is formatted.
MALFORMED = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_policy(*, header: bool = False) -> str:
    """The page's Content-Security-Policy: its own images (and data: thumbnails), its hashed
    style and script, nothing else. ``header``: add what only a response header can carry."""
    policy = (
        f"default-src 'none'; img-src 'self' data:; style-src {_sha256_source(STYLE)}; "
        f"script-src {_sha256_source(SCRIPT)}; base-uri 'none'; form-action 'none'"
    )
    return policy + ("; frame-ancestors 'none'" if header else "")


def linked_src(results: ScoreResults, page: Path) -> SrcFor:
    """Image sources relative to the page's folder (the page opens straight from disk)."""
    base = page.expanduser().resolve().parent

    def src(record: dict[str, Any]) -> str:
        rel = os.path.relpath(results.image_path(record), base)
        return html.escape("/".join(url_path(part) for part in Path(rel).parts), quote=True)

    return src


def frame_image(results: ScoreResults, record: dict[str, Any]) -> Any | None:
    """The frame as an upright RGB ``PIL.Image``, read only as a regular file below the scored
    root (a link, FIFO or device swapped in: None, as for an unreadable file)."""
    from PIL import Image, ImageOps

    try:
        data = read_regular(results.root, record["path"])
    except (InputError, OSError, ValueError):  # ValueError: a name no file can have
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            return ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def thumbnail_uri(image: Any, side: int = THUMB_SIDE) -> str:
    """A JPEG thumbnail of a ``PIL.Image`` as a data URI ('' for None)."""
    if image is None:
        return ""
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def embedded_src(results: ScoreResults) -> SrcFor:
    """Thumbnails embedded in the page (one self-contained file)."""
    return lambda record: thumbnail_uri(frame_image(results, record))


def _frame_html(record: dict[str, Any], src: str, heatmap: str | None) -> str:
    width, height = int(record["width"]), int(record["height"])
    boxes = record.get("boxes", [])
    best = max((b["score"] for b in boxes), default=0.0)
    rects = "".join(
        f'<rect class="{"weak" if b["score"] < 0.8 * best else "strong"}" '
        f'x="{b["bbox"][0]:.1f}" y="{b["bbox"][1]:.1f}" '
        f'width="{b["bbox"][2] - b["bbox"][0]:.1f}" height="{b["bbox"][3] - b["bbox"][1]:.1f}">'
        f"<title>{b['score']:.2f}</title></rect>"
        for b in boxes
    )
    p = record.get("probability")
    name = html.escape(printable(record["path"]), quote=True)
    verdict = html.escape(str(record["verdict"]), quote=True)
    facts = [name, verdict]
    if p is not None:
        facts.append(f"p {p:.3f}, burst {record.get('burst_probability', p):.3f}")
    if record.get("animal_score") is not None:
        facts.append(f"animal score {record['animal_score']:.2f}")
    if record.get("boxes"):
        facts.append(f"{len(record['boxes'])} box(es), best {record['boxes'][0]['score']:.2f}")
    heat = f'<img class="heat" alt="" src="{html.escape(heatmap, quote=True)}">' if heatmap else ""
    return (
        f'<figure class="frame {verdict}" data-verdict="{verdict}" data-path="{name}">'
        f'<div class="pic"><img loading="lazy" alt="{name}" '
        f'src="{src}" width="{width}" height="{height}">{heat}'
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">{rects}</svg></div>'
        f"<figcaption>{' · '.join(facts)}</figcaption></figure>"
    )


def _checked_frame_html(record: dict[str, Any], src_for: SrcFor, heatmaps: dict[str, str]) -> str:
    """One frame's HTML; a malformed record raises an :class:`InputError` naming it."""
    try:
        return _frame_html(record, src_for(record), heatmaps.get(record["path"]))
    except MALFORMED as exc:
        raise _malformed(record, exc) from None


def _malformed(record: dict[str, Any], exc: Exception) -> InputError:
    name = printable(record.get("path"))
    return InputError(f"results image '{name}' cannot be shown: {printable(exc)}")


def _bursts(results: ScoreResults, max_frames: int) -> tuple[list[tuple[str, list]], int]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in results.images:
        groups[record.get("burst") or record["path"]].append(record)

    def strength(record: dict[str, Any]) -> float:
        try:
            evidence = results.evidence(record)
            if evidence is not None:
                return evidence
            return float(max((b["score"] for b in record.get("boxes", [])), default=0.0))
        except MALFORMED as exc:
            raise _malformed(record, exc) from None

    ordered = sorted(groups.items(), key=lambda kv: -max(strength(r) for r in kv[1]))
    shown, left = [], max_frames
    for key, frames in ordered:
        if left <= 0:
            break
        frames = sorted(frames, key=lambda r: -strength(r))[:left]
        left -= len(frames)
        shown.append((key, frames))
    return shown, len(results.images) - (max_frames - max(left, 0))


def render_report(
    results: ScoreResults,
    src_for: SrcFor,
    heatmaps: dict[str, str] | None = None,
    max_frames: int = 5000,
    title: str = "nolabel review",
) -> str:
    """The review page's HTML; a malformed results record raises an :class:`InputError`."""
    try:
        return _page(results, src_for, heatmaps or {}, max_frames, title)
    except MALFORMED as exc:
        raise InputError(f"the results cannot be shown: {printable(exc)}") from None


def _page(
    results: ScoreResults,
    src_for: SrcFor,
    heatmaps: dict[str, str],
    max_frames: int,
    title: str,
) -> str:
    counts = {v: sum(r["verdict"] == v for r in results.images) for v in VERDICTS}
    bursts, hidden = _bursts(results, max_frames)
    sections = []
    for key, frames in bursts:
        body = "".join(_checked_frame_html(r, src_for, heatmaps) for r in frames)
        sections.append(
            f'<section class="burst"><h2>burst {html.escape(printable(key))} · '
            f"{len(frames)} frame(s)</h2>"
            f'<div class="frames">{body}</div></section>'
        )
    filters = "".join(
        f'<label><input type="checkbox" class="verdict" value="{v}" checked> {v} ({counts[v]})'
        "</label>"
        for v in VERDICTS
    )
    heat_toggle = (
        '<label><input type="checkbox" id="heat"> LIME heat maps</label>' if heatmaps else ""
    )
    failed = "".join(
        f"<li>{html.escape(printable(f['path']))}: {html.escape(printable(f.get('reason', '')))}"
        "</li>"
        for f in results.failures
    )
    models = html.escape(json.dumps(results.models))
    burst_count = len({r.get("burst") or r["path"] for r in results.images})
    note = f"<p>{hidden} weaker frames not shown (raise --max-frames).</p>" if hidden > 0 else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{page_policy()}">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><header>"
        f"<h1>{html.escape(title)}: {html.escape(printable(results.label))}</h1><div class=counts>"
        f"<span>{len(results.images)} frames</span><span>{burst_count} bursts</span>"
        + "".join(f"<span>{v}: {counts[v]}</span>" for v in VERDICTS)
        + f"<span>failed: {len(results.failures)}</span><span>shown: <b id=shown>0</b></span>"
        f"</div><div class=filters>{filters}{heat_toggle}</div>"
        f"<small>models {models}; threshold {html.escape(str(results.threshold))}</small>"
        "</header>"
        f"{note}<main>{''.join(sections)}</main>"
        + (
            f"<details><summary>failed frames</summary><ul>{failed}</ul></details>"
            if failed
            else ""
        )
        + f"<script>{SCRIPT}</script></body></html>"
    )


def heatmap_overlays(results: ScoreResults, classifier: Any, top: int) -> dict[str, str]:
    """LIME heat maps (PNG data URIs, transparent where weight ≤ 0) of the ``top`` most likely
    ``animal`` frames."""
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    from nolabel.components.lime.explain import explain_image  # numpy: only with heat maps

    ranked = sorted(
        (r for r in results.images if r["verdict"] == "animal"),
        key=lambda r: -(r.get("probability") or 0.0),
    )[: max(0, top)]
    out: dict[str, str] = {}
    for record in ranked:
        image = frame_image(results, record)
        if image is None:
            continue
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        explanation = explain_image(np.asarray(image), classifier.predict_proba, LimeParams())
        heat = np.clip(explanation.heatmap, 0.0, 1.0)
        rgba = (colormaps["jet"](heat) * 255).astype(np.uint8)
        rgba[..., 3] = np.where(heat > 0, 200, 0).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
        out[record["path"]] = (
            "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        )
    return out


def write_report(
    results: ScoreResults,
    out: str | Path,
    *,
    embed: bool = False,
    heatmaps: dict[str, str] | None = None,
    max_frames: int = 5000,
) -> Path:
    """Write the page to ``out`` (atomically) and return its path."""
    page = Path(out).expanduser()
    src_for = embedded_src(results) if embed else linked_src(results, page)
    return write_text_atomic(page, render_report(results, src_for, heatmaps, max_frames))
