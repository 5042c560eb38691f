"""docker-compose.yml serves each service's metrics where a Prometheus on the compose
network can scrape them, and nowhere else; the services log JSON there."""

from __future__ import annotations

import pytest

from tests.composefile import SERVICES, service, settings_of
from tollgate.observability.metrics import split_listen


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_serves_metrics_on_an_exposed_port(name: str) -> None:
    listen = settings_of(name).metrics_listens.get(name, "")
    assert listen, f"{name} serves no metrics in compose"
    host, port = split_listen(listen)
    assert host in ("0.0.0.0", "::"), (
        f"{name}'s metrics listen on {host}: Prometheus cannot reach it"
    )
    exposed = {int(str(p).split("/")[0]) for p in service(name).get("expose") or []}
    assert port in exposed, f"{name} does not expose its metrics port {port}"


def test_metrics_are_never_published_to_the_host() -> None:
    gateway = settings_of("gateway")
    _, port = split_listen(gateway.metrics_listens["gateway"])
    published = [str(entry) for entry in service("gateway").get("ports") or []]
    assert port != gateway.http_port
    assert not [p for p in published if p.split(":")[-1].split("/")[0] == str(port)]


@pytest.mark.parametrize("name", SERVICES)
def test_services_log_json_in_compose(name: str) -> None:
    assert settings_of(name).log_format == "json"
