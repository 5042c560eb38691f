"""tollgate: a self-hosted, token-billed relay for large-language-model APIs.

This package holds what the services share: configuration, storage, exact money,
token counting, gRPC plumbing, telemetry, the generated contracts (tollgate.v1) and
the `tollgate` command. Each service lives in services/<name>/.
"""

__version__ = "0.1.0"
