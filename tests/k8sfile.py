"""A model of deploy/k8s/, for tests/test_k8s*.py: the manifests kustomization.yaml
lists, parsed, and each container's environment as Kubernetes would give it (env,
envFrom of ConfigMaps and Secrets, secretKeyRef), fed to `load_settings`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.composefile import ROOT, image_env
from tollgate.config import Settings, load_settings

K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
PLACEHOLDER = "REPLACE_ME"
# What a test substitutes for the placeholders: a real-looking value of each Secret key.
TEST_SECRETS: dict[str, str] = {
    "TOLLGATE_INTERNAL_TOKEN": "k8s-test-internal-token-0123456789",
    "TOLLGATE_DATABASE_URL": "postgresql+psycopg://tollgate:pw@postgres.example.internal:5432/tollgate",
    "TOLLGATE_REDIS_URL": "redis://:pw@redis.example.internal:6379/0",
    "TOLLGATE_ADMIN_TOKEN": "k8s-test-admin-token-0123456789",
    "OPENAI_API_KEY": "sk-k8s-test-openai",
    "ANTHROPIC_API_KEY": "sk-ant-k8s-test",
    "GEMINI_API_KEY": "gemini-k8s-test",
    "TOLLGATE_ALERT_WEBHOOKS": "http://hooks.example.internal/k8s-test-webhook",
    "TOLLGATE_ALERT_SMTP_PASSWORD": "k8s-test-smtp-password",
}


@functools.cache
def kustomization() -> dict[str, Any]:
    return yaml.safe_load(KUSTOMIZATION.read_text())


@functools.cache
def documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, object) of every object in every resource kustomization lists."""
    found = []
    for name in kustomization()["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc is not None:
                found.append((name, doc))
    return tuple(found)


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    """Every Deployment and the migration Job, by the tollgate component they run."""
    found = {}
    for _, doc in documents():
        if doc["kind"] in ("Deployment", "Job"):
            component = doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            found[component] = doc
    return found


def pod_spec(component: str) -> dict[str, Any]:
    spec: dict[str, Any] = workloads()[component]["spec"]["template"]["spec"]
    return spec


def container(component: str) -> dict[str, Any]:
    (only,) = pod_spec(component)["containers"]
    result: dict[str, Any] = only
    return result


def _secret_data(name: str, secrets: Mapping[str, str]) -> dict[str, str]:
    data = objects("Secret")[name].get("stringData") or {}
    return {key: secrets.get(key, str(value)) for key, value in data.items()}


def container_env(
    component: str, secrets: Mapping[str, str] = TEST_SECRETS
) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The container's variables (the Dockerfile's ENV first, as a container gets them)
    and, for each Secret it reads, the keys it reads from it. `secrets` stands in
    for the placeholders, by key."""
    env = dict(image_env())
    read: dict[str, set[str]] = {}
    spec = container(component)
    config_maps = objects("ConfigMap")
    for source in spec.get("envFrom") or []:
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            name = source["secretRef"]["name"]
            data = _secret_data(name, secrets)
            env.update(data)
            read.setdefault(name, set()).update(data)
    for item in spec.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"].get("secretKeyRef") or item["valueFrom"]["configMapKeyRef"]
        if "secretKeyRef" in item["valueFrom"]:
            env[item["name"]] = _secret_data(ref["name"], secrets)[ref["key"]]
            read.setdefault(ref["name"], set()).add(ref["key"])
        else:
            env[item["name"]] = str(config_maps[ref["name"]]["data"][ref["key"]])
    return env, read


def mounted_files(component: str, root: Path) -> dict[str, str]:
    """Writes each ConfigMap the pod mounts under `root` (as the kubelet would at its
    mountPath) and returns {path in the container: path written}."""
    volumes = {v["name"]: v for v in pod_spec(component).get("volumes") or []}
    config_maps = objects("ConfigMap")
    moved: dict[str, str] = {}
    for mount in container(component).get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            continue
        target = root / mount["mountPath"].strip("/")
        target.mkdir(parents=True, exist_ok=True)
        for key, text in config_maps[volume["configMap"]["name"]]["data"].items():
            (target / key).write_text(text)
            moved[f"{mount['mountPath'].rstrip('/')}/{key}"] = str(target / key)
    return moved


def settings_of(component: str, root: Path, secrets: Mapping[str, str] = TEST_SECRETS) -> Settings:
    """The settings the component's container loads (its mounted files under `root`)."""
    env, _ = container_env(component, secrets)
    moved = mounted_files(component, root)
    if env.get("TOLLGATE_CONFIG"):
        env["TOLLGATE_CONFIG"] = moved[env["TOLLGATE_CONFIG"]]
    return load_settings(env)


def named_port(component: str, port: int | str) -> int:
    """A probe's or a Service's targetPort: a number, or a container port's name."""
    if isinstance(port, int):
        return port
    for entry in container(component).get("ports") or []:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise AssertionError(f"{component} has no container port named {port!r}")
