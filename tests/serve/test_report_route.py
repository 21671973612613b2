"""``/report`` in the service: the review page of a results file and only its frames."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.results.conftest import scored  # noqa: F401  (fixture)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_report_page_and_its_frames(make_client, scored):  # noqa: F811
    client = make_client(serve={"report_results": str(scored.results)})
    page = client.get("/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    parser = _Images()
    parser.feed(page.text)
    assert len(parser.sources) == 6
    for src in parser.sources:  # relative to /report: /report/files/<path>
        assert src.startswith("report/files/")
        frame = client.get("/" + src)
        assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8", src
    assert client.get("/report/files/cam2/broken.jpg").status_code == 404  # a failure, not listed
    assert client.get("/report/files/../results.json").status_code == 404
    outside = client.get("/report/files/%2E%2E/out/results.json")
    assert outside.status_code == 404 and outside.json()["code"] in ("not_in_results", "not_found")


def test_report_without_results_or_token(make_client, scored, tmp_path):  # noqa: F811
    missing = make_client().get("/report")
    assert missing.status_code == 404 and missing.json()["code"] == "no_report"
    gone = make_client(serve={"report_results": str(tmp_path / "none.json")}).get("/report")
    assert gone.status_code == 404
    (tmp_path / "bad.json").write_text("[]")
    bad = make_client(serve={"report_results": str(tmp_path / "bad.json")}).get("/report")
    assert bad.status_code == 422 and bad.json()["code"] == "bad_results"
    locked = make_client(api_token="s3cret", serve={"report_results": str(scored.results)})
    assert locked.get("/report").status_code == 401
    opened = locked.get("/report", headers={"Authorization": "Bearer s3cret"})
    assert opened.status_code == 200
