"""``/report``: the review page of a results file (``NOLABEL_SERVE_REPORT_RESULTS``), with its
frames served from ``/report/files/…`` — only files listed in the results, nothing else."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse

from nolabel.components.common.errors import InputError
from nolabel.components.results.records import ScoreResults, load_results
from nolabel.components.results.report import render_report
from nolabel.components.serve.deps import ErrorBody, require_token
from nolabel.components.serve.errors import ApiError

report = APIRouter(tags=["report"], dependencies=[Depends(require_token)])
_cache: dict[str, tuple[float, ScoreResults, frozenset[str]]] = {}
_lock = threading.Lock()
# JSON errors beside an HTML (or file) success: declared with their own media type.
ERRORS = {
    code: {"content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}
    for code in (401, 404, 422)
}


def _results(request: Request) -> tuple[ScoreResults, frozenset[str]]:
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
        stamp = path.stat().st_mtime
    except OSError:
        raise ApiError(404, "no_report", f"the results file {path} is not there") from None
    with _lock:
        cached = _cache.get(str(path))
        if cached is None or cached[0] != stamp:
            try:
                results = load_results(path)
            except InputError as exc:
                raise ApiError(422, "bad_results", str(exc)) from None
            listed = frozenset(r["path"] for r in results.images)
            cached = _cache[str(path)] = (stamp, results, listed)
    return cached[1], cached[2]


@report.get(
    "/report",
    response_class=HTMLResponse,
    summary="Review page of the results",
    responses=ERRORS,
)
def review_page(request: Request) -> HTMLResponse:
    """Counts, verdict filter, bursts and boxes of the configured score results."""
    results, _ = _results(request)
    page = render_report(results, lambda record: "report/files/" + quote(record["path"]))
    return HTMLResponse(page)


@report.get(
    "/report/files/{path:path}",
    summary="A frame of the results",
    response_class=FileResponse,
    responses=ERRORS,
)
def frame(path: str, request: Request) -> FileResponse:
    """One frame listed in the results (any other path: 404)."""
    results, listed = _results(request)
    if path not in listed:
        raise ApiError(404, "not_in_results", "no such frame in the results")
    file = results.root / path
    if not file.is_file():
        raise ApiError(404, "frame_missing", "the frame is no longer on disk")
    return FileResponse(file)
