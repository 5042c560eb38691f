"""docker-compose.yml and the Dockerfile agree with the code.

No Docker engine runs where the tests run, so nothing is built or started: the files
are read as plain YAML and text, and checked against what the code reads (variable
names scanned from the source, each container's environment fed to `load_settings`).
Renaming a variable, a port or a service in the code makes these tests fail until the
deployment files follow. The healthchecks are run in test_compose_healthchecks.py, and
the image's build is checked in test_dockerfile.py.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from tests.composefile import (
    BRACED,
    CALLS,
    COMMANDS,
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_NAME,
    GRPC_ONLY,
    HOST_ENV,
    INTERPOLATION,
    NOT_YET_READ,
    PYPROJECT,
    SCRIPT,
    SERVICES,
    TOLLGATE_SERVICES,
    _map_strings,
    _port_of,
    compose,
    compose_env,
    container_env,
    depends_on,
    dial_target,
    effective_argv,
    final_stage,
    healthcheck_argv,
    image_env,
    interpolate,
    names_read,
    raw_compose,
    scanned_names,
    service,
    settings_of,
    settings_reads,
    waits_for,
)


def test_the_scan_finds_every_variable_load_settings_reads() -> None:
    tollgate_reads = {name for name in settings_reads() if name.startswith("TOLLGATE_")}
    assert tollgate_reads, "load_settings read no TOLLGATE_* variable: the recorder is broken"
    assert tollgate_reads <= scanned_names(), tollgate_reads - scanned_names()


def test_compose_and_dockerfile_name_only_variables_the_code_reads() -> None:
    named = set(ENV_NAME.findall(COMPOSE_FILE.read_text()))
    named |= {key for key in image_env() if ENV_NAME.fullmatch(key)}
    named |= {key for name in TOLLGATE_SERVICES for key in compose_env(name)}
    unread = named - names_read() - set(NOT_YET_READ)
    assert not unread, f"no code reads {sorted(unread)}: renamed in tollgate/config.py?"


def test_variables_set_ahead_of_the_code_are_still_unread() -> None:
    # Empty today; it keeps any variable compose sets before the code reads it honest.
    for name in sorted(NOT_YET_READ):
        assert name not in names_read(), f"the code reads {name} now: drop it from NOT_YET_READ"
        assert name in COMPOSE_FILE.read_text(), f"compose no longer sets {name}: drop it"


# --- compose -----------------------------------------------------------------------


def test_every_tollgate_service_runs_the_one_image() -> None:
    built = {name for name, spec in compose()["services"].items() if "build" in spec}
    assert built == set(TOLLGATE_SERVICES)
    shapes = {json.dumps([service(n).get("image"), service(n)["build"]]) for n in built}
    assert len(shapes) == 1, f"services build different images: {shapes}"
    image, build = json.loads(shapes.pop())
    assert image, "name the image, so the services share one build instead of one each"
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile_name = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
    path = COMPOSE_FILE.parent / context / (dockerfile_name or "Dockerfile")
    assert path.resolve() == DOCKERFILE


@pytest.mark.parametrize("name", TOLLGATE_SERVICES)
def test_each_service_runs_its_own_command(name: str) -> None:
    assert SCRIPT in PYPROJECT["project"]["scripts"]
    assert effective_argv(name) == COMMANDS[name]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_listens_where_the_others_dial_it(name: str) -> None:
    host, port = _port_of(settings_of(name).listens[name])
    assert host in ("0.0.0.0", "::"), f"{name} listens on {host}: unreachable from others"
    for caller in TOLLGATE_SERVICES:
        target = settings_of(caller).addrs[name]
        assert dial_target(target) == (name, port), f"{caller} dials {name} at {target}"


def test_only_the_router_holds_upstream_keys() -> None:
    with_key = {**HOST_ENV, "OPENAI_API_KEY": "sk-test", "TOLLGATE_OPENAI_MODELS": "m1,m2"}
    assert "m1" in settings_of("router", with_key).routes(), "the router ignores OPENAI_*"
    for name in TOLLGATE_SERVICES:
        if name != "router":
            keys = [p.api_key for p in settings_of(name, with_key).providers]
            assert "sk-test" not in keys, f"{name} receives the upstream key"


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_gets_the_one_internal_token_from_the_host(name: str) -> None:
    host_token = HOST_ENV["TOLLGATE_INTERNAL_TOKEN"]
    assert settings_of(name).internal_token == host_token, f"{name} has no internal token"
    other = {**HOST_ENV, "TOLLGATE_INTERNAL_TOKEN": "another-token-of-sixteen-plus"}
    assert settings_of(name, other).internal_token == other["TOLLGATE_INTERNAL_TOKEN"]


def test_compose_refuses_to_start_without_the_internal_token() -> None:
    without = {k: v for k, v in HOST_ENV.items() if k != "TOLLGATE_INTERNAL_TOKEN"}
    with pytest.raises(KeyError, match="TOLLGATE_INTERNAL_TOKEN"):
        _map_strings(raw_compose(), lambda s: interpolate(s, without))


@pytest.mark.parametrize("name", TOLLGATE_SERVICES)
def test_the_cli_accepts_each_command(name: str) -> None:
    module, _, _ = PYPROJECT["project"]["scripts"][SCRIPT].partition(":")
    argv = effective_argv(name)[1:]
    try:
        args = importlib.import_module(module).build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`{SCRIPT} {' '.join(argv)}` is not a command the CLI knows")
    assert vars(args).get("service", "migrate") == name


@pytest.mark.parametrize("name", GRPC_ONLY)
def test_grpc_healthcheck_probes_the_service_port(name: str) -> None:
    _, port = _port_of(settings_of(name).listens[name])
    assert healthcheck_argv(name)[3] == f"127.0.0.1:{port}"


def test_gateway_serves_http_on_the_published_port() -> None:
    settings = settings_of("gateway")
    assert settings.http_host == "0.0.0.0", "in a container the gateway must bind all interfaces"
    targets = []
    for entry in service("gateway").get("ports") or []:
        target = entry["target"] if isinstance(entry, dict) else entry.split(":")[-1]
        targets.append(int(str(target).split("/")[0]))
    assert settings.http_port in targets, f"publishes {targets}, serves {settings.http_port}"
    url = urlsplit(healthcheck_argv("gateway")[3])
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", settings.http_port, "/healthz")


def test_only_the_gateway_publishes_ports_and_no_service_pins_a_name() -> None:
    services = compose()["services"]
    assert {name for name, spec in services.items() if spec.get("ports")} == {"gateway"}
    assert not [name for name, spec in services.items() if "container_name" in spec]


def test_depends_on_follows_the_call_graph() -> None:
    assert depends_on("migrate")["postgres"]["condition"] == "service_healthy"
    for name in SERVICES:
        deps = depends_on(name)
        assert deps.get("migrate", {}).get("condition") == "service_completed_successfully"
        for callee in CALLS.get(name, ()):
            assert deps.get(callee, {}).get("condition") == "service_healthy", (name, callee)


def test_every_dependency_can_be_satisfied() -> None:
    services = compose()["services"]
    for name in services:
        assert name not in waits_for(name), f"{name} waits for itself"
        for dep, spec in depends_on(name).items():
            condition = spec.get("condition")
            if condition == "service_healthy":
                check = services[dep].get("healthcheck") or {}
                assert check.get("test") not in (None, ["NONE"]) and not check.get("disable"), (
                    f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} restarts, never done"
            else:
                assert condition == "service_started", (name, dep, condition)


def test_restart_policies() -> None:
    for name, spec in compose()["services"].items():
        expected = "no" if name == "migrate" else "unless-stopped"
        assert spec.get("restart", "no") == expected, name


def test_every_url_points_at_a_service_it_waits_for() -> None:
    services = compose()["services"]
    for name in TOLLGATE_SERVICES:
        for key, value in container_env(name).items():
            host = urlsplit(value).hostname if "://" in value else None
            if host:
                assert host in services, f"{name} {key} points at unknown host {host}"
                assert host in waits_for(name), f"{name} starts before {host} ({key})"


def test_one_database_url_with_the_postgres_credentials() -> None:
    urls = {settings_of(name).database_url for name in TOLLGATE_SERVICES}
    assert len(urls) == 1, f"services disagree on the database: {urls}"
    url = make_url(urls.pop())
    assert url.get_backend_name() == "postgresql"
    url.get_dialect().import_dbapi()  # the driver named in the URL is installed
    deps = PYPROJECT["project"]["dependencies"]
    assert any(d.startswith(url.get_driver_name()) for d in deps), "the image lacks the driver"
    postgres = service(url.host or "")
    assert str(postgres["image"]).startswith("postgres:")
    env = postgres["environment"]
    assert (url.username, url.password, url.database, url.port or 5432) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        env.get("POSTGRES_DB", env["POSTGRES_USER"]),
        5432,
    )


def _named_volume_targets(name: str) -> dict[str, str]:
    mounts = {}
    for entry in service(name).get("volumes") or []:
        if isinstance(entry, dict):
            source, target = entry.get("source", ""), entry["target"]
        else:
            source, target = entry.split(":")[:2]
        if source and not source.startswith((".", "/", "~")):
            mounts[target] = source
    return mounts


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    for name in compose()["services"]:
        missing = set(_named_volume_targets(name).values()) - declared
        assert not missing, f"{name} mounts undeclared volumes {missing}"


def test_router_spool_is_a_shared_volume_the_service_user_can_write() -> None:
    spool = str(settings_of("router").spool_dir)
    assert spool in _named_volume_targets("router"), "router replicas must share the spool"
    # A named volume takes its owner from the image's directory, so the image makes it.
    made = _shell_args("mkdir")
    assert any(spool in args for _, args in made), f"the image does not mkdir {spool}"
    user = final_stage("USER")[-1]
    owned = [
        PurePosixPath(p) for owner, paths in _shell_args("chown") if owner == user for p in paths
    ]
    assert any(PurePosixPath(spool).is_relative_to(path) for path in owned), (user, owned)


def _shell_args(program: str) -> list[tuple[str, list[str]]]:
    """(first operand, later operands) of each `program` call in the final stage's RUNs."""
    calls = []
    for run in final_stage("RUN"):
        tokens = shlex.split(run)
        for i, token in enumerate(tokens):
            if token == program:
                operands = []
                for arg in tokens[i + 1 :]:
                    if arg in ("&&", "||", ";", "|"):
                        break
                    if not arg.startswith("-"):
                        operands.append(arg)
                if operands:
                    calls.append((operands[0], operands))
    return calls


def test_every_host_variable_has_a_default_or_is_documented_as_required() -> None:
    used: list[tuple[str, str]] = []
    _map_strings(raw_compose(), lambda s: used.extend(_usages(s)) or s)
    assert used, "compose reads nothing from the host: the scan is broken"
    header = "".join(
        line for line in COMPOSE_FILE.read_text().splitlines(True) if line.startswith("#")
    )
    for name, op_arg in used:
        assert op_arg.startswith((":-", "-")) or (
            op_arg.startswith((":?", "?")) and op_arg.lstrip(":?").strip()
        ), f"${{{name}}} has neither a default nor a required-variable message"
        assert re.search(rf"\b{name}\b", header), f"{name} is not listed in the header comment"


def _usages(text: str) -> list[tuple[str, str]]:
    found = []
    for match in INTERPOLATION.finditer(text):
        if match.group(0) != "$$":
            parts = BRACED.fullmatch(match["braced"] or "")
            name = parts["name"] if parts else match["bare"]
            found.append((name, (parts["op"] or "") + (parts["arg"] or "") if parts else ""))
    return found
