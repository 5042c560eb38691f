"""Configuration: environment variables plus an optional YAML file.

Every listening address and every dial target is a setting, so each service can run
on its own machine and as many replicas as the operator wants. Upstream API keys are
read from the environment (named in the YAML by `api_key_env`), never from the
database, and never appear in `repr()`; so does the internal credential the services
present to each other (TOLLGATE_INTERNAL_TOKEN; see tollgate/internal_token.py).
Each service loads only its own secrets: `load_settings(env, service)` (see
tollgate/settings/services.py); the gateway never holds an upstream key.

The code lives in tollgate/settings/, one idea a module; this module is its public face.
"""

from __future__ import annotations

from tollgate.settings.load import load_settings
from tollgate.settings.model import (
    DEFAULT_ADDRS,
    DEFAULT_MAX_CALL_SECONDS,
    DEMO_MODEL,
    DEMO_MODELS,
    ConfigError,
    GrpcTlsFiles,
    PriceConfig,
    ProviderConfig,
    Route,
    Settings,
)
from tollgate.settings.secrets import (
    GRPC_TLS_VARIABLES,
    MIN_ADMIN_TOKEN_LENGTH,
    MIN_INTERNAL_TOKEN_LENGTH,
)
from tollgate.settings.services import Service, for_service

__all__ = [
    "DEFAULT_ADDRS",
    "DEFAULT_MAX_CALL_SECONDS",
    "DEMO_MODEL",
    "DEMO_MODELS",
    "GRPC_TLS_VARIABLES",
    "MIN_ADMIN_TOKEN_LENGTH",
    "MIN_INTERNAL_TOKEN_LENGTH",
    "ConfigError",
    "GrpcTlsFiles",
    "PriceConfig",
    "ProviderConfig",
    "Route",
    "Service",
    "Settings",
    "for_service",
    "load_settings",
]
