"""deploy/grafana/tollgate.json is a dashboard of metrics that exist: every metric a
panel's query names is one a service exports, and every service's metrics are charted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from services.budget import metrics as budget_metrics
from services.budget.admin import operations as admin
from services.gateway import metrics as gateway_metrics
from services.metering import metrics as metering_metrics
from services.router import metrics as router_metrics
from tollgate.db import make_engine, upgrade

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "tollgate.json"
METRIC = re.compile(r"\btollgate_[a-z0-9_]+")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}


class FakeRecorder:
    spool_dir = Path("/nonexistent")
    pending = 0
    open_calls = 0


def _names(collector: Collector) -> set[str]:
    names = set()
    for family in collector.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def exported(tmp_path: Path) -> dict[str, set[str]]:
    """The series names each service exports, by the module that defines them."""
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        admin.create_project(engine, "charted", monthly_budget="10")
        budget = _names(budget_metrics.BudgetCollector(engine, ZoneInfo("UTC")))
    finally:
        engine.dispose()
    router_metrics.watch_spool(FakeRecorder())
    try:
        spool = _names(router_metrics.SPOOL)
    finally:
        router_metrics.watch_spool(None)
    by_module: dict[str, set[str]] = {"budget": budget, "router": spool}
    modules = {
        "gateway": gateway_metrics,
        "router": router_metrics,
        "budget": budget_metrics,
        "metering": metering_metrics,
    }
    for service, module in modules.items():
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                by_module[service] = by_module.get(service, set()) | _names(value)
    return by_module


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def test_every_metric_a_panel_queries_is_exported(tmp_path: Path) -> None:
    names = set().union(*exported(tmp_path).values())
    assert "tollgate_http_requests_total" in names, "the scan of the services found nothing"
    for expr in queries():
        named = set(METRIC.findall(expr))
        assert named, f"a panel queries no tollgate metric: {expr}"
        assert named <= names, f"{expr} names {sorted(named - names)}, which nothing exports"


def test_every_service_is_on_the_dashboard(tmp_path: Path) -> None:
    charted = {name for expr in queries() for name in METRIC.findall(expr)}
    for service, names in exported(tmp_path).items():
        assert charted & names, f"no panel charts a metric of {service}"


def test_the_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
