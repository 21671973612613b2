"""Response headers that keep a browser from sniffing, framing or running what the API serves."""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]
ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# For any response that is not a page with a policy of its own (JSON, a frame, metrics):
# opened in a browser, nothing in it may run, load or be framed (the browser's own image view
# styles itself inline: allowed, as raw file hosts do).
LOCKED_POLICY = b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"


def with_security_headers(headers: Headers) -> Headers:
    """``headers`` plus nosniff, no framing and no referrer (unless already set), and a policy
    that lets nothing run on any response that is not HTML and sets none (HTML pages set their
    own: the report page allows its hashed script)."""
    present = {name.lower() for name, _ in headers}
    added = [(name, value) for name, value in ALWAYS if name not in present]
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    is_html = content_type.split(b";")[0].strip().lower() == b"text/html"
    if b"content-security-policy" not in present and not is_html:
        added.append((b"content-security-policy", LOCKED_POLICY))
    return [*headers, *added]
