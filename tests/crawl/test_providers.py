"""Each provider's request building and response parsing against its real wire format."""

from __future__ import annotations

import json

import pytest

from nolabel.components.common.errors import ConfigurationError, InputError
from nolabel.components.common.settings import get_settings
from nolabel.components.crawl.providers import ProviderOptions, make_provider
from tests.crawl.servers import LoopbackServer, send, serve_json

INAT_PHOTOS = "https://inaturalist-open-data.s3.amazonaws.com/photos"
FAST = 1000.0  # requests per second: no pacing delays in tests


def openverse_item(i: int) -> dict:
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "title": f"Snow leopard {i}",
        "foreign_landing_url": f"https://www.flickr.com/photos/someone/{i}",
        "url": f"https://live.staticflickr.com/65535/{i}_abc.jpg",
        "creator": "someone",
        "creator_url": "https://www.flickr.com/photos/someone",
        "license": "by-sa" if i % 2 else "cc0",
        "license_version": "2.0" if i % 2 else "1.0",
        "license_url": "https://creativecommons.org/licenses/by-sa/2.0/",
        "provider": "flickr",
        "source": "flickr",
        "category": None,
        "filesize": None,
        "filetype": "jpg",
        "tags": [{"name": "leopard"}],
        "attribution": f'"Snow leopard {i}" by someone is licensed under CC BY-SA 2.0.',
        "fields_matched": ["title"],
        "mature": False,
        "height": 480,
        "width": 640,
        "thumbnail": f"https://api.openverse.org/v1/images/{i}/thumb/",
        "detail_url": f"https://api.openverse.org/v1/images/{i}/",
        "related_url": f"https://api.openverse.org/v1/images/{i}/related/",
        "unstable__sensitivity": [],
    }


def openverse_api(server: LoopbackServer, total: int = 1000) -> None:
    def images(handler, query) -> None:
        page, size = int(query["page"][0]), int(query["page_size"][0])
        authed = handler.headers.get("Authorization") == "Bearer tok-1"
        if size > (500 if authed else 20):
            return send(handler, 401, b'{"detail": "page_size too large"}', "application/json")
        if page > 20:
            return send(handler, 400, b'{"detail": "page depth"}', "application/json")
        start = (page - 1) * size
        results = [openverse_item(i) for i in range(start, min(start + size, total))]
        body = {
            "result_count": total,
            "page_count": min(20, -(-total // size)),
            "page_size": size,
            "page": page,
            "results": results,
            "warnings": [],
        }
        send(handler, 200, json.dumps(body).encode(), "application/json")

    server.route("/v1/images/", images)
    server.route(
        "/v1/auth_tokens/token/",
        serve_json(
            lambda q: (
                {
                    "access_token": "tok-1",
                    "scope": "read write",
                    "expires_in": 43200,
                    "token_type": "Bearer",
                }
                if q.get("client_secret") == ["s3cret"]
                else {}
            )
        ),
    )


def test_openverse_anonymous_pages_within_limits() -> None:
    with LoopbackServer() as server:
        openverse_api(server)
        provider = make_provider(
            "openverse", ProviderOptions(base_url=server.base, rate_per_second=FAST)
        )
        hits = provider.search("snow leopard", 0, 50)
        assert [h.rank for h in hits] == list(range(50))
        assert hits[1].image_url == "https://live.staticflickr.com/65535/1_abc.jpg"
        assert hits[1].page_url == "https://www.flickr.com/photos/someone/1"
        assert hits[1].thumbnail_url.endswith("/1/thumb/")
        assert (hits[1].width, hits[1].height) == (640, 480)
        assert hits[1].licence == "CC BY-SA 2.0" and hits[0].licence == "CC0 1.0"
        assert "someone" in hits[1].attribution and hits[1].provider == "openverse"
        sizes = [int(q["page_size"][0]) for p, q, _ in server.requests if p == "/v1/images/"]
        assert sizes and max(sizes) <= 20
        headers = server.requests[0][2]
        assert "ops@example.org" in headers["User-Agent"]
        # Page depth: nothing past page 20 is requested.
        deep = provider.search("snow leopard", 390, 30)
        assert [h.rank for h in deep] == list(range(390, 400))
        assert max(int(q["page"][0]) for p, q, _ in server.requests if p == "/v1/images/") == 20


def test_openverse_oauth_client_credentials(monkeypatch) -> None:
    monkeypatch.setenv("NOLABEL_OPENVERSE_CLIENT_ID", "client")
    monkeypatch.setenv("NOLABEL_OPENVERSE_CLIENT_SECRET", "s3cret")
    get_settings.cache_clear()
    with LoopbackServer() as server:
        openverse_api(server)
        provider = make_provider(
            "openverse", ProviderOptions(base_url=server.base, rate_per_second=FAST)
        )
        hits = provider.search("lion", 0, 120)
        assert len(hits) == 120
        assert server.hits["/v1/auth_tokens/token/"] == 1
        assert server.hits["/v1/images/"] == 1  # one page of 120 once authenticated


def commons_page(i: int, mime: str = "image/jpeg") -> dict:
    return {
        "pageid": 1000 + i,
        "ns": 6,
        "title": f"File:Snow leopard {i}.jpg",
        "index": i + 1,
        "imagerepository": "local",
        "imageinfo": [
            {
                "size": 50000,
                "width": 1024,
                "height": 768,
                "thumburl": f"https://upload.wikimedia.org/thumb/{i}/320px.jpg",
                "thumbwidth": 320,
                "thumbheight": 240,
                "url": f"https://upload.wikimedia.org/wikipedia/commons/{i}.jpg",
                "descriptionurl": f"https://commons.wikimedia.org/wiki/File:Snow_leopard_{i}.jpg",
                "descriptionshorturl": f"https://commons.wikimedia.org/w/index.php?curid={i}",
                "mime": mime,
                "extmetadata": {
                    "LicenseShortName": {"value": "CC BY-SA 4.0", "source": "commons-desc-page"},
                    "Artist": {
                        "value": '<a href="//commons.wikimedia.org/wiki/User:Ann">Ann &amp; Bo</a>'
                    },
                    "ObjectName": {"value": f"Snow leopard {i}"},
                },
            }
        ],
    }


def test_wikimedia_continuation_maxlag_and_parsing() -> None:
    corpus = [commons_page(i, "application/pdf" if i == 2 else "image/jpeg") for i in range(9)]
    lagged = {"n": 0}

    def api(handler, query) -> None:
        if lagged["n"] == 0:
            lagged["n"] += 1
            body = {"error": {"code": "maxlag", "info": "Waiting: 7 seconds lagged", "lag": 7}}
            return send(
                handler,
                200,
                json.dumps(body).encode(),
                "application/json",
                {"Retry-After": "5", "X-Database-Lag": "7"},
            )
        offset, limit = int(query.get("gsroffset", ["0"])[0]), min(3, int(query["gsrlimit"][0]))
        pages = corpus[offset : offset + limit]
        body: dict = {"batchcomplete": True, "query": {"pages": pages[::-1]}}
        if offset + limit < len(corpus):
            body["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
        send(handler, 200, json.dumps(body).encode(), "application/json")

    with LoopbackServer() as server:
        url = server.route("/w/api.php", api)
        provider = make_provider("wikimedia", ProviderOptions(base_url=url, rate_per_second=FAST))
        provider.maxlag_wait = 0.01
        hits = provider.search("snow leopard", 0, 4)
        hits += provider.search("snow leopard", 4, 5)
        assert [h.rank for h in hits] == [0, 1, 3, 4, 5, 6, 7, 8]  # the PDF (rank 2) skipped
        first = hits[0]
        assert first.image_url == "https://upload.wikimedia.org/wikipedia/commons/0.jpg"
        assert first.thumbnail_url.endswith("320px.jpg") and first.licence == "CC BY-SA 4.0"
        assert first.attribution.startswith("Ann & Bo") and first.title == "Snow leopard 0"
        queries = [q for _, q, _ in server.requests]
        assert all(q["maxlag"] == ["5"] and q["gsrnamespace"] == ["6"] for q in queries)
        assert all(q["generator"] == ["search"] and "url" in q["iiprop"][0] for q in queries)
        assert any(q.get("continue") == ["gsroffset||"] for q in queries)  # followed continue


def test_inaturalist_observations() -> None:
    def observations(query) -> dict:
        page, per_page = int(query["page"][0]), int(query["per_page"][0])
        results = []
        for i in range((page - 1) * per_page, min(page * per_page, 5)):
            results.append(
                {
                    "id": 500 + i,
                    "uri": f"https://www.inaturalist.org/observations/{500 + i}",
                    "quality_grade": "research",
                    "taxon": {"name": "Panthera uncia", "preferred_common_name": "Snow Leopard"},
                    "photos": []
                    if i == 3
                    else [
                        {
                            "id": 90 + i,
                            "license_code": "cc-by-nc",
                            "url": f"{INAT_PHOTOS}/{90 + i}/square.jpg",
                            "attribution": "(c) Jo, some rights reserved (CC BY-NC)",
                            "original_dimensions": {"width": 2048, "height": 1536},
                        }
                    ],
                }
            )
        return {"total_results": 5, "page": page, "per_page": per_page, "results": results}

    with LoopbackServer() as server:
        server.route("/v1/observations", serve_json(observations))
        provider = make_provider(
            "inaturalist",
            ProviderOptions(
                base_url=server.base, rate_per_second=FAST, licences=["cc-by", "cc-by-nc"]
            ),
        )
        hits = provider.search("Panthera uncia", 0, 10)
        assert len(hits) == 4  # the observation without photos is skipped
        assert hits[0].image_url.endswith("/photos/90/large.jpg")
        assert hits[0].thumbnail_url.endswith("/photos/90/square.jpg")
        assert hits[0].licence == "CC BY-NC" and hits[0].attribution.startswith("(c) Jo")
        assert hits[0].page_url.endswith("/observations/500") and hits[0].width == 2048
        assert hits[0].group == "inaturalist:500"
        query = server.requests[0][1]
        assert query["taxon_name"] == ["Panthera uncia"] and query["photos"] == ["true"]
        assert query["photo_license"] == ["cc-by,cc-by-nc"]
        assert query["quality_grade"] == ["research"]


def test_bing_v7_key_header_and_offsets(monkeypatch) -> None:
    def search(handler, query) -> None:
        if handler.headers.get("Ocp-Apim-Subscription-Key") != "k3y":
            return send(handler, 401, b'{"error": {"code": "401"}}', "application/json")
        offset, count = int(query["offset"][0]), int(query["count"][0])
        value = [
            {
                "name": f"leopard {i}",
                "webSearchUrl": "https://www.bing.com/images/search?q=x",
                "thumbnailUrl": f"https://tse1.mm.bing.net/th?id={i}",
                "contentUrl": f"https://images.example.org/{i}.jpg",
                "hostPageUrl": f"https://example.org/page/{i}",
                "hostPageDisplayUrl": "example.org",
                "contentSize": "12345 B",
                "encodingFormat": "jpeg",
                "width": 800,
                "height": 600,
            }
            for i in range(offset, min(offset + count, 40))
        ]
        body = {
            "_type": "Images",
            "totalEstimatedMatches": 40,
            "value": value,
            "nextOffset": offset + len(value),
        }
        send(handler, 200, json.dumps(body).encode(), "application/json")

    with LoopbackServer() as server:
        server.route("/v7.0/images/search", search)
        monkeypatch.setenv("NOLABEL_BING_ENDPOINT", server.base)
        get_settings.cache_clear()
        with pytest.raises(ConfigurationError, match="NOLABEL_BING_KEY"):
            make_provider("bing", ProviderOptions(rate_per_second=FAST))
        monkeypatch.setenv("NOLABEL_BING_KEY", "k3y")
        get_settings.cache_clear()
        provider = make_provider("bing", ProviderOptions(rate_per_second=FAST))
        hits = provider.search("snow leopard", 30, 20)
        assert [h.rank for h in hits] == list(range(30, 40))
        assert hits[0].image_url == "https://images.example.org/30.jpg"
        assert hits[0].page_url == "https://example.org/page/30" and hits[0].width == 800
        assert server.requests[0][1]["q"] == ["snow leopard"]


def test_folder_provider_pages_and_refuses_escape(tmp_path) -> None:
    from tests.crawl.servers import jpeg_bytes

    (tmp_path / "lion").mkdir()
    for i in range(5):
        (tmp_path / "lion" / f"{i}.jpg").write_bytes(jpeg_bytes(i))
    (tmp_path / "lion" / "1.jpg.json").write_text('{"licence": "CC BY 4.0", "attribution": "Zo"}')
    provider = make_provider("folder", ProviderOptions(folder_root=tmp_path))
    hits = provider.search("lion", 1, 3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].image_url == (tmp_path / "lion" / "1.jpg").as_uri()
    assert hits[0].licence == "CC BY 4.0" and hits[0].attribution == "Zo"
    assert hits[1].licence == "unknown"
    for bad in ("../", "..", "missing"):
        with pytest.raises(InputError):
            provider.search(bad, 0, 1)


def test_demo_provider_is_deterministic() -> None:
    options = ProviderOptions(positive_queries=["leopard"], seed=3)
    a = make_provider("demo", options).search("leopard", 0, 5)
    b = make_provider("demo", options).search("leopard", 0, 5)
    c = make_provider("demo", options).search("tree", 0, 5)
    assert [h.image_url for h in a] == [h.image_url for h in b]
    assert all(h.image_url.startswith("demo://positive/") for h in a)
    assert all(h.image_url.startswith("demo://negative/") for h in c)
    assert len({h.image_url for h in a + c}) == 10
    with pytest.raises(InputError):
        make_provider("nope")
