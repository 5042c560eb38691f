"""Optional mutual TLS between the services (TOLLGATE_GRPC_TLS_CERT, _KEY, _CA).

Servers require a client certificate signed by the CA; clients check the server's
certificate against the same CA and present their own. The certificate must name the
host its callers dial (e.g. `router` in compose, `127.0.0.1` on one machine) in its
subjectAltName. The internal token is still required on top: TLS proves who is on the
wire, the token that the caller is one of tollgate's services.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from tollgate.config import GrpcTlsFiles


@dataclass(frozen=True)
class TlsMaterial:
    """The PEM bytes, read once at start-up (a missing file fails then, not mid-call)."""

    cert: bytes
    key: bytes
    ca: bytes

    def __repr__(self) -> str:  # the key is a secret
        return "TlsMaterial(***)"

    @classmethod
    def read(cls, files: GrpcTlsFiles) -> TlsMaterial:
        return cls(files.cert.read_bytes(), files.key.read_bytes(), files.ca.read_bytes())

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )
