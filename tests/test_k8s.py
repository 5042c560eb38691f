"""deploy/k8s/ is valid Kubernetes and agrees with the code.

No cluster runs where the tests run: every manifest is checked offline against the
Kubernetes API's own schemas (kubernetes-validate ships them), and each container's
environment, built as the kubelet builds it from env, envFrom, Secrets and mounted
ConfigMaps, is fed to `load_settings`. Renaming a variable, a port, a command or a
secret's owner in the code makes these tests fail until the manifests follow, as
tests/test_compose.py does for docker-compose.yml.
"""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.composefile import (
    COMMANDS,
    SERVICES,
    final_stage,
    names_read,
    service,
    settings_reads,
)
from tests.k8sfile import (
    K8S,
    PLACEHOLDER,
    TEST_SECRETS,
    container,
    container_env,
    documents,
    kustomization,
    named_port,
    objects,
    pod_spec,
    settings_of,
    workloads,
)
from tollgate.config import ConfigError, load_settings
from tollgate.observability.metrics import split_listen

# The oldest Kubernetes the manifests claim (gRPC probes are GA from 1.27) and the
# newest whose schemas kubernetes-validate ships.
K8S_VERSIONS = ("1.27", kubernetes_validate.latest_version())
COMPONENTS = (*SERVICES, "migrate")


# --- valid Kubernetes --------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    assert len(documents()) >= 15, "kustomization.yaml lists fewer objects than expected"
    for name, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_the_validator_refuses_an_invalid_manifest() -> None:
    # The check above can fail: a misspelt field is an error under strict schemas.
    deployment = yaml.safe_load(yaml.safe_dump(workloads()["budget"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_and_only_those() -> None:
    listed = kustomization()["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)
    namespace = kustomization()["namespace"]
    assert set(objects("Namespace")) == {namespace}
    keys = [(doc["kind"], doc["metadata"]["name"]) for _, doc in documents()]
    assert len(set(keys)) == len(keys), "two objects share a kind and name"
    assert all("namespace" not in doc["metadata"] for _, doc in documents()), (
        "the namespace is kustomization.yaml's to set"
    )


# --- what each container runs --------------------------------------------------------


def test_every_tollgate_container_runs_the_one_image_and_its_command() -> None:
    (image,) = kustomization()["images"]
    assert f"{image['newName']}:{image['newTag']}" == service("gateway")["image"]
    for component in COMPONENTS:
        spec = container(component)
        assert spec["image"] == image["name"], component
        # No ENTRYPOINT in the image: `args` replaces its CMD, as compose's command does.
        assert "command" not in spec and not final_stage("ENTRYPOINT")
        assert spec["args"] == COMMANDS[component], component


def test_every_pod_runs_as_the_images_user() -> None:
    uid, _, gid = final_stage("USER")[-1].partition(":")
    for component in COMPONENTS:
        context = pod_spec(component)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
        assert context["fsGroup"] == int(gid), f"{component}: volumes not writable by the user"
        assert context["runAsNonRoot"] is True


def test_every_writable_path_is_a_volume_under_a_read_only_root() -> None:
    home = load_settings(container_env("gateway")[0]).home
    for component in COMPONENTS:
        spec = container(component)
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in spec["volumeMounts"]}
        assert {str(home), "/tmp"} <= mounts, component


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_container_has_requests_and_limits(component: str) -> None:
    resources = container(component)["resources"]
    for side in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[side]), (component, side)


# --- settings, ports and addresses -----------------------------------------------------


def test_the_manifests_set_only_variables_the_code_reads(tmp_path: Path) -> None:
    config = settings_of("router", tmp_path).config_file
    assert config is not None
    key_envs = set(re.findall(r"api_key_env:\s*(\S+)", config.read_text()))
    named: set[str] = set()
    for component in COMPONENTS:
        named |= {item["name"] for item in container(component).get("env") or []}
    for secret in objects("Secret").values():
        named |= set(secret.get("stringData") or {})
    for config_map in objects("ConfigMap").values():
        named |= {key for key in config_map["data"] if key.isupper()}
    unread = named - names_read() - key_envs
    assert not unread, f"no code reads {sorted(unread)}"
    assert {"OPENAI_API_KEY"} <= settings_reads()


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_listens_where_the_others_dial_it(name: str, tmp_path: Path) -> None:
    host, port = split_listen(settings_of(name, tmp_path).listens[name])
    assert host in ("0.0.0.0", "::"), f"{name} listens on {host}: unreachable from others"
    assert port in [p["containerPort"] for p in container(name)["ports"]]
    (svc,) = [s for s in objects("Service").values() if s["metadata"]["name"] == name]
    (grpc_port,) = [p for p in svc["spec"]["ports"] if p["name"] == "grpc"]
    assert grpc_port["port"] == port and named_port(name, grpc_port["targetPort"]) == port
    for caller in COMPONENTS:
        target = settings_of(caller, tmp_path / caller).addrs[name]
        assert target == f"dns:///{name}:{port}", f"{caller} dials {name} at {target}"


def test_the_grpc_services_are_headless_and_the_gateway_is_not() -> None:
    services = objects("Service")
    assert set(services) == set(SERVICES)
    for name, svc in services.items():
        headless = svc["spec"].get("clusterIP") == "None"
        assert headless is (name != "gateway"), name
        labels = workloads()[name]["spec"]["template"]["metadata"]["labels"]
        selector = svc["spec"]["selector"]
        assert selector.items() <= labels.items(), f"Service {name} selects no {name} pod"
        assert workloads()[name]["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize("name", [s for s in SERVICES if s != "gateway"])
def test_grpc_probes_ask_the_service_port(name: str, tmp_path: Path) -> None:
    _, port = split_listen(settings_of(name, tmp_path).listens[name])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = container(name)[probe]["grpc"]
        assert grpc["port"] == port and grpc.get("service", "") == "", (name, probe)


def test_gateway_probes_its_http_healthz(tmp_path: Path) -> None:
    settings = settings_of("gateway", tmp_path)
    assert settings.http_host == "0.0.0.0"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container("gateway")[probe]["httpGet"]
        assert check["path"] == "/healthz"
        assert named_port("gateway", check["port"]) == settings.http_port
    (http,) = [p for p in objects("Service")["gateway"]["spec"]["ports"] if p["name"] == "http"]
    assert named_port("gateway", http["targetPort"]) == settings.http_port


@pytest.mark.parametrize("name", SERVICES)
def test_prometheus_scrapes_each_services_metrics_listener(name: str, tmp_path: Path) -> None:
    host, port = split_listen(settings_of(name, tmp_path).metrics_listens[name])
    assert host in ("0.0.0.0", "::")
    annotations = workloads()[name]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    assert named_port(name, "metrics") == port
    assert settings_of(name, tmp_path).log_format == "json"


def test_the_router_spool_is_one_shared_claim(tmp_path: Path) -> None:
    spool = str(settings_of("router", tmp_path).spool_dir)
    mounts = {m["mountPath"]: m["name"] for m in container("router")["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec("router")["volumes"]}
    claim = volumes[mounts[spool]]["persistentVolumeClaim"]["claimName"]
    assert objects("PersistentVolumeClaim")[claim]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_gateway_and_the_router_scale_on_cpu() -> None:
    autoscalers = objects("HorizontalPodAutoscaler")
    assert set(autoscalers) == {"gateway", "router"}
    for name, hpa in autoscalers.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert hpa["spec"]["minReplicas"] >= 2
        assert "cpu" in container(name)["resources"]["requests"], "utilization needs a request"


def test_each_service_keeps_a_replica_through_drains_and_spreads_over_nodes() -> None:
    budgets = objects("PodDisruptionBudget")
    assert set(budgets) == set(SERVICES)
    for name in SERVICES:
        labels = workloads()[name]["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budgets[name]["spec"]["minAvailable"] < workloads()[name]["spec"]["replicas"]
        (spread,) = pod_spec(name)["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"].items() <= labels.items()


def test_the_migration_job_upgrades_the_one_database(tmp_path: Path) -> None:
    job = workloads()["migrate"]
    assert job["kind"] == "Job" and pod_spec("migrate")["restartPolicy"] in ("Never", "OnFailure")
    urls = {settings_of(c, tmp_path / c).database_url for c in COMPONENTS}
    assert urls == {TEST_SECRETS["TOLLGATE_DATABASE_URL"]}


# --- secrets ---------------------------------------------------------------------------


def test_secrets_hold_placeholders_only() -> None:
    for name, secret in objects("Secret").items():
        assert "data" not in secret, f"{name}: placeholders go in stringData, readable"
        for key, value in (secret.get("stringData") or {}).items():
            assert value == "" or PLACEHOLDER in value, f"{name}.{key} holds a value"


def test_as_shipped_the_services_refuse_to_start(tmp_path: Path) -> None:
    # The internal token's placeholder is too short to be accepted: nothing runs on it.
    shipped = {k: v for k, v in TEST_SECRETS.items() if k != "TOLLGATE_INTERNAL_TOKEN"}
    for name in SERVICES:
        with pytest.raises(ConfigError, match="TOLLGATE_INTERNAL_TOKEN"):
            settings_of(name, tmp_path / name, shipped)


def _owners() -> dict[str, set[str]]:
    """Secret -> the components that read it."""
    owners: dict[str, set[str]] = {}
    for component in COMPONENTS:
        for secret in container_env(component)[1]:
            owners.setdefault(secret, set()).add(component)
    return owners


def test_each_secret_goes_only_to_the_services_that_use_it() -> None:
    assert _owners() == {
        "tollgate-internal-token": set(SERVICES),
        "tollgate-database": set(COMPONENTS),
        "tollgate-redis": {"gateway", "router"},
        "tollgate-admin-token": {"gateway"},
        "tollgate-upstream-keys": {"router"},
        "tollgate-alerts": {"budget"},
    }
    assert set(_owners()) == set(objects("Secret"))


@pytest.mark.parametrize("component", COMPONENTS)
def test_no_container_holds_another_services_secret_values(component: str) -> None:
    env, _ = container_env(component)
    mine = {
        "router": {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"},
        "gateway": {"TOLLGATE_ADMIN_TOKEN"},
        "budget": {"TOLLGATE_ALERT_WEBHOOKS", "TOLLGATE_ALERT_SMTP_PASSWORD"},
    }
    for owner, keys in mine.items():
        if owner != component:
            for key in keys:
                leaked = [name for name, value in env.items() if value == TEST_SECRETS[key]]
                assert not leaked, f"{component} holds {owner}'s {key} as {leaked}"


def test_the_router_holds_the_upstream_keys_its_providers_name(tmp_path: Path) -> None:
    settings = settings_of("router", tmp_path)
    keys = {p.name: p.api_key for p in settings.providers}
    assert keys == {
        "openai": TEST_SECRETS["OPENAI_API_KEY"],
        "anthropic": TEST_SECRETS["ANTHROPIC_API_KEY"],
        "gemini": TEST_SECRETS["GEMINI_API_KEY"],
    }
    budget = settings_of("budget", tmp_path / "budget")
    assert [p.name for p in budget.providers] == list(keys), "budget reads another config"
    assert not [p for p in budget.providers if p.api_key], "budget holds an upstream key"
    gateway = settings_of("gateway", tmp_path / "gateway")
    assert gateway.admin_token == TEST_SECRETS["TOLLGATE_ADMIN_TOKEN"]
    assert budget.admin_token == "" and settings.admin_token == ""
    assert budget.alerts.webhooks and not settings.alerts.webhooks
