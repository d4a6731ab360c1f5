"""Fetch Metadata (``Sec-Fetch-*``) checks for the token endpoints.

Browsers say why they send a request (W3C Fetch Metadata Request Headers; the "resource
isolation policy" of web.dev/articles/fetch-metadata). A token is only ever fetched by a
site's own script with ``fetch``/XHR, so the token endpoints refuse, with 403
``fetch_metadata_refused``:

* ``Sec-Fetch-Site: cross-site`` unless the request is in CORS mode (``Sec-Fetch-Mode: cors``)
  from an origin listed in ``cors.origins``: another site's ``<img>``, ``<form>``, link or
  ``no-cors`` fetch never gets a token minted (the browser would hide it anyway; now the
  gateway does not even make one);
* any ``Sec-Fetch-Dest`` other than ``empty`` (fetch/XHR) or ``document`` (someone opening
  the URL): ``script``, ``style``, ``image``, ``frame``/``iframe``, ``object``, ``embed``,
  workers and the rest, from any site. This stops script inclusion (XSSI) of a token answer.

A request without ``Sec-Fetch-*`` headers (curl, server-side callers, older browsers) is not
affected: these headers are a defence a browser adds, never a requirement.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bridge.errors import FetchMetadataRefused

#: destinations a token may be fetched for: fetch()/XHR, and opening the URL itself
ALLOWED_DESTS = frozenset({"empty", "document"})


def check_fetch_metadata(headers: Mapping[str, str], cors_origins: Collection[str]) -> None:
    """Raise :class:`FetchMetadataRefused` for a request the browser marks as not a token fetch.

    ``headers`` is case-insensitive (aiohttp's ``request.headers``); ``cors_origins`` the exact
    listed origins.
    """
    dest = headers.get("Sec-Fetch-Dest")
    if dest is not None and dest.strip().lower() not in ALLOWED_DESTS:
        raise FetchMetadataRefused(reason="fetch_dest")
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() == "cross-site":
        mode = headers.get("Sec-Fetch-Mode", "").strip().lower()
        if mode != "cors" or headers.get("Origin") not in cors_origins:
            raise FetchMetadataRefused(reason="cross_site")
