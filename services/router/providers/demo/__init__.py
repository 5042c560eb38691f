"""The built-in demo upstream: the demo model (`model.py`: chat; `vectors.py`:
embeddings), deterministic and exact in its usage, and the provider that serves it
in-process (`provider.py`). The mock upstreams (tollgate_mocks) answer with the same
model, so a call gives the same content and usage through either."""

from services.router.providers.demo.provider import DemoProvider

__all__ = ["DemoProvider"]
