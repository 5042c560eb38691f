"""The provider kinds a configuration may name, as plain data.

The router's registry (services/router/providers/registry.py) is where each kind is
served; the shared configuration checks a provider's `kind` against this list
without importing the router. The router refuses to start if the two disagree, and
a test holds them equal.
"""

from __future__ import annotations

PROVIDER_KINDS: tuple[str, ...] = ("openai", "anthropic", "gemini", "demo")

# Where a provider of a kind is when its entry names no base_url ("openai" needs one).
DEFAULT_BASE_URLS: dict[str, str] = {
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}
