"""Whether a browser's form POST comes from our own site: ``Origin`` and ``Sec-Fetch-Site``.

votes' ballot forms and render's sign-up box ask it here.
A page of another site can make a browser POST our forms; browsers say where such a request comes
from. ``Sec-Fetch-Site`` must be ``same-origin`` when sent, and ``Origin`` must be the site's origin:
the configured site URL's, or (none configured) the request's own host. A request with neither header
is not from a current browser (a script or a test), and is taken.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-case, without a default port; None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def same_origin(origin: str | None, fetch_site: str | None, site_url: str, host: str | None) -> bool:
    """Whether a request with these headers comes from the site at ``site_url`` (empty: ``host``)."""
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return False
    if origin is None:
        return True
    sent = origin_of(origin)  # "null" (a sandboxed or privacy-sensitive context) is not ours
    if sent is None:
        return False
    if site_url:
        return sent == origin_of(site_url)
    if not host:
        return False
    # Behind a proxy that ends TLS the request's own scheme may be http: compare the host only.
    return sent == origin_of(f"{urlsplit(sent).scheme}://{host.strip()}")
