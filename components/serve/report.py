"""``/report``: the review page of a results file (``NOLABEL_SERVE_REPORT_RESULTS``), with its
frames served from ``/report/files/…`` — only files listed in the results, nothing else.

A frame is opened once, below the scored root, component by component without following links
(:func:`~nolabel.components.common.safe_files.open_regular`) and streamed from that descriptor,
with the media type its bytes sniff as; anything that is not an image is refused. A frame URL
carries the name's exact bytes percent-encoded, then quoted once more (:func:`frame_url`): the
path the server decodes holds neither a newline (which no route matches) nor a non-UTF-8 byte
(which decoding would replace), and the route unquotes it back to the listed name's bytes.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote_to_bytes

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from nolabel.components.common.errors import InputError
from nolabel.components.common.images import sniff_image_type
from nolabel.components.common.safe_files import open_regular
from nolabel.components.results.names import name_bytes, printable, url_path
from nolabel.components.results.records import ScoreResults, load_results
from nolabel.components.results.report import MALFORMED, page_policy, render_report
from nolabel.components.serve.deps import ErrorBody, require_token
from nolabel.components.serve.errors import ApiError

log = logging.getLogger("nolabel.serve")


report = APIRouter(tags=["report"], dependencies=[Depends(require_token)])
CHUNK = 256 * 1024
MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "webp": "image/webp",
}
_cache: dict[str, tuple[tuple[int, int, int], ScoreResults, dict[bytes, str]]] = {}
_lock = threading.Lock()
# JSON errors beside an HTML (or file) success: declared with their own media type.
ERRORS = {
    code: {"content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}
    for code in (401, 404, 415, 422, 500)
}


def _load(path: Path) -> tuple[ScoreResults, dict[bytes, str]]:
    """The results and their frames by on-disk name bytes; malformed results: 422."""
    try:
        results = load_results(path)
        return results, {name_bytes(r["path"]): r["path"] for r in results.images}
    except InputError as exc:
        raise ApiError(422, "bad_results", printable(exc)) from None
    except MALFORMED as exc:  # what a stricter load_results would name
        detail = f"malformed results {printable(path)}: {printable(exc)}"
        raise ApiError(422, "bad_results", detail) from None


def _results(request: Request) -> tuple[ScoreResults, dict[bytes, str]]:
    """The configured results, re-read when the file changes."""
    configured = request.app.state.serve_settings.report_results
    if not configured:
        raise ApiError(
            404,
            "no_report",
            "no results to show: set NOLABEL_SERVE_REPORT_RESULTS (serve --report)",
        )
    path = Path(configured).expanduser()
    try:
        info = path.stat()
    except OSError:
        raise ApiError(404, "no_report", f"the results file {path} is not there") from None
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    with _lock:
        cached = _cache.get(str(path))
        if cached is None or cached[0] != stamp:
            cached = _cache[str(path)] = (stamp, *_load(path))
    return cached[1], cached[2]


def frame_url(record: dict) -> str:
    """The frame's URL relative to ``/report``: its name's bytes percent-encoded, twice."""
    return "report/files/" + quote(url_path(record["path"]), safe="/")


@report.get(
    "/report",
    response_class=HTMLResponse,
    summary="Review page of the results",
    responses=ERRORS,
)
def review_page(request: Request) -> HTMLResponse:
    """Counts, verdict filter, bursts and boxes of the configured score results."""
    results, _ = _results(request)
    try:
        page = render_report(results, frame_url)
    except InputError as exc:
        raise ApiError(422, "bad_results", printable(exc)) from None
    except Exception as exc:  # a JSON answer naming the problem, never a bare 500
        log.exception("report rendering failed", extra={"results": str(results.path)})
        detail = f"cannot render the report: {type(exc).__name__}: {printable(exc)}"
        raise ApiError(500, "report_failed", detail) from None
    return HTMLResponse(page, headers={"Content-Security-Policy": page_policy(header=True)})


def _download_name(name: str, kind: str) -> str:
    """A header-safe file name with the extension of what the bytes are."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(name).stem)[:100].strip(".")
    return f"{stem or 'frame'}.{'jpg' if kind == 'jpeg' else kind}"


def _stream(handle: int, size: int) -> Iterator[bytes]:
    """At most ``size`` bytes of the opened frame; closes it when done or dropped."""
    with os.fdopen(handle, "rb") as stream:
        left = size
        while left > 0 and (chunk := stream.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk


@report.get(
    "/report/files/{path:path}",
    summary="A frame of the results",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}, **ERRORS},
)
def frame(path: str, request: Request) -> StreamingResponse:
    """One frame listed in the results, if it is still a regular file and an image (a link, a
    FIFO, a device or a folder: 404; not an image: 415)."""
    results, listed = _results(request)
    name = listed.get(unquote_to_bytes(path))
    if name is None:
        raise ApiError(404, "not_in_results", "no such frame in the results")
    try:
        handle = open_regular(results.root, name)
    except (InputError, OSError, ValueError):
        raise ApiError(404, "frame_missing", "the frame is not a plain file on disk") from None
    try:
        size = os.fstat(handle).st_size
        kind = sniff_image_type(os.pread(handle, 16, 0))
    except OSError:
        os.close(handle)
        raise ApiError(404, "frame_missing", "the frame cannot be read") from None
    if kind not in MEDIA_TYPES:
        os.close(handle)
        raise ApiError(415, "not_an_image", "the listed frame is not an image; not served")
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'inline; filename="{_download_name(name, kind)}"',
        "Cache-Control": "private, no-cache",
    }
    return StreamingResponse(_stream(handle, size), media_type=MEDIA_TYPES[kind], headers=headers)
