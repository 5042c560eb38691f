"""The router's exact-repeat response cache (docs/cache.md): the key (key.py), the
stores (database and Redis), the replay of a cached answer as a stream, and the
hooks ChatCompletion calls (service.py)."""

from services.router.cache.build import build_response_cache
from services.router.cache.key import IGNORED_FIELDS, cache_key, cacheable
from services.router.cache.service import Lookup, Outcome, ResponseCache
from services.router.cache.store import CachedAnswer, CacheStore, Limits

__all__ = [
    "IGNORED_FIELDS",
    "CacheStore",
    "CachedAnswer",
    "Limits",
    "Lookup",
    "Outcome",
    "ResponseCache",
    "build_response_cache",
    "cache_key",
    "cacheable",
]
