"""Which HTTP client a provider sends through: aiohttp (http_aiohttp.py), the
cheaper per call, unless its proxy is a socks one, which only httpx speaks here
(http_httpx.py, with httpx's `socks` extra).

The proxy is the provider's `proxy`, else the one the environment names for its
base URL (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY, as httpx read them
before), looked up once here rather than on every call."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from services.router.providers.http import UpstreamClient, timeout_for
from services.router.providers.http_aiohttp import AiohttpClient
from services.router.providers.http_httpx import HttpxClient
from tollgate.config import ProviderConfig

SOCKS_SCHEMES = ("socks4://", "socks5://", "socks5h://")


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url`, if any."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not proxies:
        return None
    # NO_PROXY, read as urllib reads it (undocumented there, hence missing from typeshed).
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all") or None


def client_for(config: ProviderConfig) -> UpstreamClient:
    """The provider's pooled client, through its proxy when it has one."""
    proxy = config.proxy or environment_proxy(config.base_url)
    if proxy and proxy.lower().startswith(SOCKS_SCHEMES):
        return HttpxClient.for_config(timeout_for(config), proxy)
    return AiohttpClient(timeout_for(config), proxy)
