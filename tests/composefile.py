"""A model of docker-compose.yml and the Dockerfile, for tests/test_compose*.py and
tests/test_dockerfile.py: the files parsed, compose's interpolation, and the variable
names the code reads."""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tollgate.alertconfig import AlertSettings
from tollgate.config import DEFAULT_ADDRS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

SERVICES = tuple(DEFAULT_ADDRS)  # every long-running service the code knows
GRPC_ONLY = tuple(s for s in SERVICES if s != "gateway")  # the gateway is checked over HTTP
TOLLGATE_SERVICES = (*SERVICES, "migrate")
SCRIPT = "tollgate"
COMMANDS = {**{s: [SCRIPT, "serve", s] for s in SERVICES}, "migrate": [SCRIPT, "db", "upgrade"]}
# The architecture's call graph: a service starts after the services it calls.
CALLS = {
    "gateway": {"router", "budget", "metering"},
    "router": {"metering"},
    "metering": {"budget"},
}
# What the operator must export: the services' shared internal credential.
HOST_ENV: dict[str, str] = {"TOLLGATE_INTERNAL_TOKEN": "compose-test-internal-token-0123"}
# Set in compose ahead of the code that reads them; a test drops each once the code does.
NOT_YET_READ: dict[str, str] = {}

ENV_NAME = re.compile(r"TOLLGATE_[A-Z0-9_]*[A-Z0-9]")
INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


# --- reading the files -------------------------------------------------------------


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error}, ${VAR:+alt} and $$."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match["bare"]:
            return env.get(match["bare"], "")
        parts = BRACED.fullmatch(match["braced"])
        assert parts, f"cannot parse {match.group(0)!r}"
        op, arg, value = parts["op"] or "", parts["arg"] or "", env.get(parts["name"])
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if unset else str(value)
        if op.endswith("?") and unset:
            raise KeyError(f"{parts['name']} is required: {arg}")
        if op.endswith("+"):
            return "" if unset else arg
        return value or ""

    return INTERPOLATION.sub(one, text)


def _map_strings(node: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, list):
        return [_map_strings(item, fn) for item in node]
    if isinstance(node, dict):
        return {key: _map_strings(value, fn) for key, value in node.items()}
    return node


@functools.cache
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@functools.cache
def compose() -> dict[str, Any]:
    return _map_strings(raw_compose(), lambda s: interpolate(s, HOST_ENV))


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no {name!r} service"
    return services[name]


@functools.cache
def dockerfile() -> tuple[tuple[int, str, str], ...]:
    """(stage, KEYWORD, arguments) for each instruction, continuation lines joined."""
    lines, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    instructions, stage = [], -1
    for line in lines:
        keyword, _, args = line.partition(" ")
        stage += keyword.upper() == "FROM"
        instructions.append((stage, keyword.upper(), args.strip()))
    return tuple(instructions)


def final_stage(keyword: str) -> list[str]:
    last = dockerfile()[-1][0]
    return [args for stage, kw, args in dockerfile() if stage == last and kw == keyword]


def _argv(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in final_stage("ENV"):
        tokens = shlex.split(args)
        if "=" in tokens[0]:
            env.update(token.split("=", 1) for token in tokens)
        else:
            env[tokens[0]] = " ".join(tokens[1:])
    return env


def compose_env(name: str) -> dict[str, str]:
    return _env_dict(service(name))


def _env_dict(spec: dict[str, Any]) -> dict[str, str]:
    environment = spec.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def container_env(name: str) -> dict[str, str]:
    return {**image_env(), **compose_env(name)}


def settings_of(name: str, host_env: Mapping[str, str] = HOST_ENV) -> Settings:
    """The settings the service's container loads, given the operator's environment."""
    spec = _map_strings(raw_compose()["services"][name], lambda s: interpolate(s, host_env))
    return load_settings({**image_env(), **_env_dict(spec)})


def _image_argv(keyword: str) -> list[str]:
    found = final_stage(keyword)
    return _argv(found[-1]) if found else []


def _listed(value: str | list[str] | None) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else list(value or [])


def effective_argv(name: str) -> list[str]:
    """What the container runs: compose's entrypoint/command over the image's."""
    spec = service(name)
    if "entrypoint" in spec:  # overriding the entrypoint drops the image's CMD too
        return _listed(spec["entrypoint"]) + _listed(spec.get("command"))
    command = _listed(spec["command"]) if "command" in spec else _image_argv("CMD")
    return _image_argv("ENTRYPOINT") + command


def _port_of(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def dial_target(target: str) -> tuple[str, int]:
    assert target.startswith("dns:///"), f"{target!r}: dial dns:///host:port (round_robin)"
    return _port_of(target.removeprefix("dns:///"))


def depends_on(name: str) -> dict[str, dict[str, Any]]:
    deps = service(name).get("depends_on") or {}
    assert isinstance(deps, dict), f"{name}: depends_on needs the long form with a condition"
    return deps


def waits_for(name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(depends_on(name))
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(depends_on(dep))
    return seen


def healthcheck_argv(name: str) -> list[str]:
    test = (service(name).get("healthcheck") or {}).get("test")
    assert isinstance(test, list) and test[0] == "CMD", f"{name}: healthcheck needs CMD form"
    argv = test[1:]
    assert argv[:2] == ["python", "-c"] and len(argv) == 4, f"{name}: python -c SCRIPT ARG"
    return argv


# --- what the code reads -----------------------------------------------------------


def _expand(node: ast.JoinedStr) -> set[str]:
    """TOLLGATE_{name.upper()}_ADDR and the like, for every service the code knows."""
    parts = node.values
    if (
        len(parts) == 3
        and isinstance(parts[0], ast.Constant)
        and parts[0].value == "TOLLGATE_"
        and isinstance(parts[1], ast.FormattedValue)
        and isinstance(parts[2], ast.Constant)
        and re.fullmatch(r"_[A-Z0-9_]+", str(parts[2].value))
    ):
        return {f"TOLLGATE_{name.upper()}{parts[2].value}" for name in DEFAULT_ADDRS}
    if (
        len(parts) == 2
        and isinstance(parts[0], ast.Constant)
        and parts[0].value == "TOLLGATE_ALERT_"
        and isinstance(parts[1], ast.FormattedValue)
    ):  # TOLLGATE_ALERT_{spec.name.upper()}: one per alert setting
        return {
            f"TOLLGATE_ALERT_{spec.name.upper()}"
            for spec in dataclasses.fields(AlertSettings)
            if spec.name != "webhooks"
        }
    return set()


@functools.cache
def scanned_names() -> frozenset[str]:
    names: set[str] = set()
    for path in sorted([*ROOT.glob("tollgate/**/*.py"), *ROOT.glob("services/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update([node.value] if ENV_NAME.fullmatch(node.value) else [])
            elif isinstance(node, ast.JoinedStr):
                names |= _expand(node)
    return frozenset(names)


class _Recording(dict[str, str]):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


@functools.cache
def settings_reads() -> frozenset[str]:
    env = _Recording({"OPENAI_API_KEY": "sk-test"})  # a key set: the OpenAI branch reads more
    load_settings(env)
    return frozenset(env.asked)


def names_read() -> frozenset[str]:
    return scanned_names() | settings_reads()
