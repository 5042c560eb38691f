"""The gateway: OpenAI-compatible HTTP in front of the gRPC services."""
