"""Configuration, one idea a module; `tollgate.config` is the public face.

- model.py: the Settings dataclass and its parts (providers, prices, routes)
- values.py: reading one setting from the environment or a YAML section
- providers.py: the upstream providers and where their API keys come from
- secrets.py: the admin token, the internal credential, the mutual-TLS files
- load.py: load_settings, the whole suite's settings or one service's
- services.py: which service holds which secret (for_service)
"""
