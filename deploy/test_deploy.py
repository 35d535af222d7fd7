"""The deployment files name only commands, options, settings and routes that exist.

Every Kubernetes manifest, the systemd unit and the Containerfile is read
here and held against the real server: each command against
``timerserver <command> --help`` and the CLI's own parser, each
``TIMERSERVER_*`` variable and settings key against
:class:`timerserver.settings.Settings`, each settings file against
:func:`timerserver.settings.load_settings`, and each probe against the
routes of the application. The API container's command is also started,
on 127.0.0.1, and its probes asked. No container is built and nothing is
applied to a cluster.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from timerkernel import Kernel, MemoryStore
from timerserver.app import ServerState, create_app, create_ops_app
from timerserver.cli import build_parser
from timerserver.metrics import Metrics
from timerserver.settings import Settings, SettingsError, load_settings

DEPLOY = Path(__file__).parent
REPOSITORY = DEPLOY.parent
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"

PREFIX = "TIMERSERVER_"


def settings_tables() -> dict[str, type[Any]]:
    """The tables of the settings: the fields of Settings that hold settings."""
    defaults = Settings()
    return {
        field.name: type(getattr(defaults, field.name))
        for field in attrs.fields(Settings)
        if attrs.has(type(getattr(defaults, field.name)))
    }


SECTIONS = settings_tables()
# How long uvicorn lets the requests under way finish after the API stops
# taking new ones (timeout_graceful_shutdown in timerserver/cli.py).
REQUESTS_SHUTDOWN_SECONDS = 30
AUTH_KEY_FIELDS = ("token", "token_sha256", "namespaces")
# A runner that stops lets each delivery in flight finish, bounded by its
# callback's timeout_seconds (the contract's default).
DEFAULT_CALLBACK_TIMEOUT = 10.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


# -- what the server offers ------------------------------------------------------


@cache
def cli_options(command: str) -> dict[str, bool]:
    """The options of ``timerserver <command>``, read from its ``--help``.

    Each maps to whether it takes a value.
    """
    answer = subprocess.run(
        [*timerserver_command(), command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    options: dict[str, bool] = {}
    for match in re.finditer(r"^\s+(--[a-z][a-z-]*)( [A-Z_]+)?", answer.stdout, re.M):
        options[match.group(1)] = match.group(2) is not None

    assert "--config" in options, answer.stdout
    return options


def timerserver_command() -> list[str]:
    """The ``timerserver`` script of this interpreter's environment."""
    script = Path(sys.executable).parent / "timerserver"
    if script.is_file():
        return [str(script)]

    return [sys.executable, "-m", "timerserver"]


@cache
def served_paths(command: str) -> frozenset[str]:
    """The paths that ``timerserver <command>`` answers GET on.

    ``serve`` serves the application; ``runner`` the health, readiness and
    metrics routes alone, on ``runner.metrics_port``.
    """
    state = ServerState(
        kernel=Kernel(MemoryStore()), settings=Settings(), metrics=Metrics()
    )
    app = create_app(state) if command == "serve" else create_ops_app(state)
    paths = set()
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "GET" in methods and "{" not in path:
            paths.add(path)

    return frozenset(paths)


def setting_problem(dotted: str) -> str | None:
    """Why *dotted* (``runner.batch_size``) names no setting, or ``None``."""
    fields = attrs.fields_dict(Settings)
    head, _, rest = dotted.partition(".")
    if head not in fields:
        return f"{dotted!r}: no setting {head!r} (known: {sorted(fields)})"

    if head == "auth":
        # [auth] holds disabled and a table of keys by name: auth.keys.NAME.FIELD.
        parts = rest.split(".")
        if parts == ["disabled"]:
            return None

        if len(parts) == 3 and parts[0] == "keys" and parts[2] in AUTH_KEY_FIELDS:
            return None

        return f"{dotted!r}: not auth.disabled nor auth.keys.NAME.{AUTH_KEY_FIELDS}"

    if head in SECTIONS:
        section = attrs.fields_dict(SECTIONS[head])
        if not rest:
            return f"{dotted!r} is a table; name one of its keys"

        if "." in rest or rest not in section:
            return f"{dotted!r}: no key {rest!r} in [{head}] (known: {sorted(section)})"
    elif rest:
        return f"{dotted!r}: {head!r} is not a table"

    return None


def variable_problem(name: str) -> str | None:
    """Why the environment variable *name* sets no setting, or ``None``."""
    if not name.startswith(PREFIX):
        return None

    dotted = name[len(PREFIX) :].lower().replace("__", ".")
    problem = setting_problem(dotted)
    return f"{name}: {problem}" if problem else None


def toml_keys(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key of a TOML document, dotted."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from toml_keys(value, f"{dotted}.")
        else:
            yield dotted


def command_problems(argv: list[str]) -> list[str]:
    """What is wrong with *argv* as a ``timerserver`` command line."""
    if not argv or Path(argv[0]).name != "timerserver":
        return [f"{argv!r} does not run timerserver"]

    if len(argv) < 2 or argv[1] not in ("serve", "runner", "migrate"):
        return [f"{argv!r} names no timerserver command"]

    options = cli_options(argv[1])
    problems = []
    position = 2
    while position < len(argv):
        word = argv[position]
        name = word.split("=", 1)[0]
        if name not in options:
            problems.append(f"{argv[1]} has no option {name!r}")
        elif options[name] and "=" not in word:
            position += 1

        position += 1

    if not problems:
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit:
            problems.append(f"the CLI refuses {argv[1:]!r}")

    return problems


def option_value(argv: list[str], option: str) -> str | None:
    for position, word in enumerate(argv):
        if word == option and position + 1 < len(argv):
            return argv[position + 1]

        if word.startswith(f"{option}="):
            return word.split("=", 1)[1]

    return None


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an environment file (``NAME=value`` lines)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, separator, value = line.partition("=")
            assert separator, f"{path}: {line!r} is not NAME=value"
            values[name.strip()] = value

    return values


def settings_from(
    config_file: Path | None, variables: Mapping[str, str], argv: list[str]
) -> Settings:
    """The settings a process gets from this file, environment and flags."""
    saved = {
        name: value for name, value in os.environ.items() if name.startswith(PREFIX)
    }
    for name in saved:
        del os.environ[name]

    os.environ.update(variables)
    try:
        arguments = build_parser().parse_args(argv)
        overrides = {
            "storage": arguments.storage,
            "host": getattr(arguments, "host", None),
            "port": getattr(arguments, "port", None),
            "shards": getattr(arguments, "shards", None),
            "migrate": getattr(arguments, "migrate", None),
            "runner.enabled": getattr(arguments, "runner_enabled", None),
        }
        return load_settings(
            config_file=None if config_file is None else str(config_file),
            overrides=overrides,
        )
    finally:
        for name in variables:
            os.environ.pop(name, None)

        os.environ.update(saved)


# -- Kubernetes ------------------------------------------------------------------


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every YAML document under deploy/kubernetes, with its file."""
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                assert isinstance(document, dict), f"{path}: not a mapping"
                yield path, document


def kustomizations() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path, document in manifests()
        if document.get("kind") == "Kustomization"
    ]


def workloads() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path, document in manifests()
        if document.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet")
    ]


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def argv_of(container: Mapping[str, Any]) -> list[str]:
    """The command line a container runs, with the image's entry point."""
    command = container.get("command") or image_entrypoint()
    args = container.get("args", image_cmd() if "command" not in container else [])
    return [*command, *args]


def overlays() -> list[Path]:
    """The folders of the overlays, each a complete deployment."""
    return sorted(path for path in (KUBERNETES / "overlays").iterdir() if path.is_dir())


def layers(overlay: Path) -> list[Path]:
    """The kustomization folders an overlay is built from, base first."""
    found: list[Path] = []
    document = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    for resource in document.get("resources", []):
        folder = (overlay / resource).resolve()
        if (folder / "kustomization.yaml").is_file():
            found.extend(layers(folder))

    return [*found, overlay.resolve()]


def generated(kind: str, overlay: Path) -> dict[str, dict[str, str]]:
    """The variables of the ConfigMaps or Secrets an overlay generates, by name.

    *kind* is ``configMapGenerator`` or ``secretGenerator``; ``envs`` files
    and ``literals`` are read, ``files`` are named by their file name.
    """
    found: dict[str, dict[str, str]] = {}
    for folder in layers(overlay):
        document = yaml.safe_load((folder / "kustomization.yaml").read_text())
        for generator in document.get(kind, []):
            values = found.setdefault(generator["name"], {})
            for env in generator.get("envs", []):
                values.update(read_env_file(folder / env))

            for literal in generator.get("literals", []):
                name, _, value = literal.partition("=")
                values[name] = value

            for file in generator.get("files", []):
                values[Path(file.split("=")[-1]).name] = str(folder / file)

    return found


def container_variables(container: Mapping[str, Any], overlay: Path) -> dict[str, str]:
    """The environment a container gets from its env and envFrom."""
    secrets = generated("secretGenerator", overlay)
    config_maps = generated("configMapGenerator", overlay)
    variables = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            variables.update(secrets[source["secretRef"]["name"]])
        if "configMapRef" in source:
            variables.update(config_maps[source["configMapRef"]["name"]])

    for entry in container.get("env", []):
        variables[entry["name"]] = str(entry.get("value", ""))

    return variables


def mounted_config(
    workload: Mapping[str, Any],
    container: Mapping[str, Any],
    config: str,
    overlay: Path,
) -> Path:
    """The file of this repository that *config* is inside the container."""
    volumes = {volume["name"]: volume for volume in pod_spec(workload)["volumes"]}
    for mount in container.get("volumeMounts", []):
        folder = mount["mountPath"].rstrip("/")
        if config.startswith(f"{folder}/"):
            source = volumes[mount["name"]]["configMap"]["name"]
            files = generated("configMapGenerator", overlay)[source]
            name = config[len(folder) + 1 :]
            assert name in files, f"ConfigMap {source} has no file {name}"
            return Path(files[name])

    raise AssertionError(f"{config} is not in a mounted ConfigMap")


def container_settings(
    workload: Mapping[str, Any], container: Mapping[str, Any], overlay: Path
) -> Settings:
    """The settings the container's process starts with in *overlay*."""
    argv = argv_of(container)
    config = option_value(argv, "--config")
    assert config is not None, "settings come from the mounted ConfigMap"
    return settings_from(
        mounted_config(workload, container, config, overlay),
        container_variables(container, overlay),
        argv[1:],
    )


def deployed() -> list[Any]:
    """Every (overlay, workload, container) as a test parameter."""
    return [
        pytest.param(
            overlay,
            workload,
            container,
            id=f"{overlay.name}-{workload['metadata']['name']}-{container['name']}",
        )
        for overlay in overlays()
        for _path, workload in workloads()
        for container in containers(workload)
    ]


def test_every_manifest_is_yaml_of_a_known_kind() -> None:
    kinds = {document.get("kind") for _path, document in manifests()}

    assert kinds <= {
        "Kustomization",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "Job",
    }
    assert {"Deployment", "Service", "Kustomization"} <= kinds


def test_every_kustomization_names_files_that_exist() -> None:
    for path, document in kustomizations():
        for resource in document.get("resources", []):
            assert (path.parent / resource).exists(), f"{path}: {resource}"

        for kind in ("configMapGenerator", "secretGenerator"):
            for generator in document.get(kind, []):
                for file in [*generator.get("envs", []), *generator.get("files", [])]:
                    target = path.parent / file.split("=")[-1]
                    assert target.is_file(), f"{path}: {file}"


def test_there_is_an_overlay_for_postgresql_and_one_for_cassandra() -> None:
    schemes = {
        overlay.name: generated("secretGenerator", overlay)["timerserver-secrets"][
            "TIMERSERVER_STORAGE"
        ].split("://")[0]
        for overlay in overlays()
    }

    assert schemes == {"postgres": "postgresql", "cassandra": "cassandra"}
    for overlay in overlays():
        assert layers(overlay) == [(KUBERNETES / "base").resolve(), overlay.resolve()]


def test_the_overlays_patch_workloads_that_exist() -> None:
    names = {
        (workload["kind"], workload["metadata"]["name"]) for _p, workload in workloads()
    }
    for overlay in overlays():
        document = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        for patch in document.get("patches", []):
            target = patch["target"]

            assert (target["kind"], target["name"]) in names


def test_api_and_runner_processes_are_deployed() -> None:
    commands = sorted(
        tuple(argv_of(container)[1:3])
        for _path, workload in workloads()
        for container in containers(workload)
    )

    assert commands == [("runner", "--config"), ("serve", "--no-runner")]


@pytest.mark.parametrize(("overlay", "workload", "container"), deployed())
def test_each_container_runs_a_real_command_with_real_settings(
    overlay: Path, workload: dict[str, Any], container: dict[str, Any]
) -> None:
    argv = argv_of(container)
    variables = container_variables(container, overlay)

    settings = container_settings(workload, container, overlay)

    assert command_problems(argv) == []
    assert [variable_problem(name) for name in variables] == [None] * len(variables)
    assert settings.host == "0.0.0.0"
    assert settings.callbacks.allow_private_networks is False
    assert settings.storage.startswith(
        f"{overlay.name.replace('postgres', 'postgresql')}://"
    )


def test_the_settings_file_names_only_real_settings() -> None:
    files = sorted(KUBERNETES.rglob("*.toml"))
    assert files

    for path in files:
        keys = list(toml_keys(tomllib.loads(path.read_text())))

        assert [setting_problem(key) for key in keys] == [None] * len(keys)


@pytest.mark.parametrize(("overlay", "workload", "container"), deployed())
def test_probes_point_at_served_routes_on_the_served_port(
    overlay: Path, workload: dict[str, Any], container: dict[str, Any]
) -> None:
    settings = container_settings(workload, container, overlay)
    command = argv_of(container)[1]
    port_served = settings.port if command == "serve" else settings.runner.metrics_port
    ports = {port.get("name"): port["containerPort"] for port in container["ports"]}
    probes = [
        container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    ]

    for probe in probes:
        port = probe["httpGet"]["port"]

        assert probe["httpGet"]["path"] in served_paths(command)
        assert ports.get(port, port) == port_served


@pytest.mark.parametrize(("overlay", "workload", "container"), deployed())
def test_the_api_is_open_to_the_network_only_with_api_keys(
    overlay: Path, workload: dict[str, Any], container: dict[str, Any]
) -> None:
    settings = container_settings(workload, container, overlay)

    if argv_of(container)[1] == "serve":
        settings.check_exposure()
        assert settings.auth.enabled


def test_readiness_and_liveness_probe_their_routes() -> None:
    for _path, workload in workloads():
        for container in containers(workload):
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize(("overlay", "workload", "container"), deployed())
def test_termination_grace_covers_the_servers_shutdown(
    overlay: Path, workload: dict[str, Any], container: dict[str, Any]
) -> None:
    settings = container_settings(workload, container, overlay)
    grace = pod_spec(workload)["terminationGracePeriodSeconds"]
    if argv_of(container)[1] == "serve":
        needed = settings.shutdown_grace_seconds + REQUESTS_SHUTDOWN_SECONDS
    else:
        needed = DEFAULT_CALLBACK_TIMEOUT

    assert grace > needed


def test_services_send_to_a_named_port_of_the_pods_they_select() -> None:
    documents = [document for _path, document in manifests()]
    services = [document for document in documents if document.get("kind") == "Service"]
    assert services

    for service in services:
        selector = service["spec"]["selector"]
        chosen = [
            workload
            for workload in documents
            if workload.get("kind") == "Deployment"
            and selector.items()
            <= workload["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(chosen) == 1, service["metadata"]["name"]
        names = {
            port.get("name")
            for container in containers(chosen[0])
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names


def test_the_deployments_select_their_own_pods() -> None:
    for _path, workload in workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]

        assert selector.items() <= labels.items()


# -- systemd ---------------------------------------------------------------------


def unit_entries(path: Path) -> dict[str, list[str]]:
    """The ``Key=value`` entries of a unit file, by key, in order."""
    entries: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            entries.setdefault(key.strip(), []).append(value.strip())

    return entries


def installed_as(path: str) -> Path:
    """The example file of deploy/systemd that the unit reads at *path*."""
    local = SYSTEMD / Path(path.lstrip("-")).name
    assert local.is_file(), f"deploy/systemd has no example of {path}"
    return local


def test_the_unit_starts_a_real_command() -> None:
    (exec_start,) = unit_entries(SYSTEMD / "timerserver.service")["ExecStart"]
    argv = shlex.split(exec_start)

    assert argv[0].startswith("/"), "systemd wants an absolute path"
    assert command_problems(argv) == []


def test_the_units_settings_and_environment_are_real_settings() -> None:
    entries = unit_entries(SYSTEMD / "timerserver.service")
    argv = shlex.split(entries["ExecStart"][0])
    config = option_value(argv, "--config")
    assert config is not None
    (environment_file,) = entries["EnvironmentFile"]
    variables = read_env_file(installed_as(environment_file))

    keys = list(toml_keys(tomllib.loads(installed_as(config).read_text())))
    settings = settings_from(installed_as(config), variables, argv[1:])

    assert [setting_problem(key) for key in keys] == [None] * len(keys)
    assert [variable_problem(name) for name in variables] == [None] * len(variables)
    assert settings.callbacks.signing_secret
    assert settings.storage.startswith("sqlite:////var/lib/timerserver/")
    settings.check_exposure()
    assert entries["StateDirectory"] == ["timerserver"]


def test_the_unit_waits_long_enough_for_a_clean_stop() -> None:
    entries = unit_entries(SYSTEMD / "timerserver.service")
    config = option_value(shlex.split(entries["ExecStart"][0]), "--config")
    assert config is not None
    settings = settings_from(installed_as(config), {}, ["serve"])

    (timeout,) = entries["TimeoutStopSec"]
    needed = settings.shutdown_grace_seconds + REQUESTS_SHUTDOWN_SECONDS + 10

    assert int(timeout) > needed
    assert entries["KillSignal"] == ["SIGTERM"]
    assert entries["RestartPreventExitStatus"] == ["2"]


# -- the Containerfile -------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """The Containerfile's instructions, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))

    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(
        index for index, (keyword, _) in enumerate(steps) if keyword == "FROM"
    )
    return steps[last_from:]


def image_entrypoint() -> list[str]:
    (entrypoint,) = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    value: list[str] = json.loads(entrypoint)
    return value


def image_cmd() -> list[str]:
    (cmd,) = [rest for keyword, rest in final_stage() if keyword == "CMD"]
    value: list[str] = json.loads(cmd)
    return value


def image_variables() -> dict[str, str]:
    variables = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                variables[name] = value

    return variables


def test_the_image_starts_a_real_command() -> None:
    argv = [*image_entrypoint(), *image_cmd()]

    assert command_problems(argv) == []
    assert argv[1] == "serve"


def test_the_images_variables_are_real_settings() -> None:
    variables = {
        name: value
        for name, value in image_variables().items()
        if name.startswith(PREFIX)
    }
    settings = settings_from(None, variables, ["serve"])

    assert [variable_problem(name) for name in variables] == [None] * len(variables)
    assert settings.host == "0.0.0.0"
    assert settings.storage == "sqlite:////var/lib/timerserver/timers.db"


def test_the_image_serves_the_network_once_given_an_api_key() -> None:
    variables = {
        name: value
        for name, value in image_variables().items()
        if name.startswith(PREFIX)
    }
    key = {
        "TIMERSERVER_AUTH__KEYS__APPS__TOKEN": "a-token-of-32-characters-or-more",
        "TIMERSERVER_AUTH__KEYS__APPS__NAMESPACES": "*",
    }

    with pytest.raises(SettingsError, match="needs API keys"):
        settings_from(None, variables, ["serve"]).check_exposure()
    settings_from(None, {**variables, **key}, ["serve"]).check_exposure()


def test_the_image_is_slim_python_and_runs_as_another_user_than_root() -> None:
    stage = final_stage()
    (base,) = [rest for keyword, rest in stage if keyword == "FROM"]
    (user,) = [rest for keyword, rest in stage if keyword == "USER"]

    assert re.fullmatch(r"python:3\.1[1-9]-slim", base)
    assert user.split(":")[0] not in ("0", "root")


def test_the_image_copies_files_of_this_repository() -> None:
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from="):
            *sources, _target = shlex.split(rest)
            for source in sources:
                assert (REPOSITORY / source).exists(), source


# -- the API's command, started ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.mark.parametrize(
    "workload",
    [
        pytest.param(document, id=document["metadata"]["name"])
        for _path, document in workloads()
    ],
)
def test_the_containers_command_answers_its_probes(
    workload: dict[str, Any], tmp_path: Path
) -> None:
    (container,) = containers(workload)
    argv = argv_of(container)
    config = option_value(argv, "--config")
    assert config is not None
    config_file = mounted_config(workload, container, config, overlays()[0])
    # The pod's command, with the mounted file's path in this repository, and
    # a loopback address, a free port and a store of its own in place of the
    # pod's address, port and the Secret's storage.
    command = [
        *timerserver_command(),
        *[str(config_file) if word == config else word for word in argv[1:]],
    ]
    port = free_port()
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(PREFIX)
    }
    environment.update(
        TIMERSERVER_HOST="127.0.0.1",
        TIMERSERVER_PORT=str(port),
        TIMERSERVER_RUNNER__METRICS_PORT=str(port),
        TIMERSERVER_STORAGE=f"sqlite:///{tmp_path / 'timers.db'}",
        TIMERSERVER_SHUTDOWN_GRACE_SECONDS="0",
    )
    urls = [
        f"http://127.0.0.1:{port}{container[kind]['httpGet']['path']}"
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    ]

    process = subprocess.Popen(
        command,
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        statuses = [get_status(url) for url in urls]
        while statuses != [200] * len(urls) and time.monotonic() < deadline:
            if process.poll() is not None:
                break

            time.sleep(0.2)
            statuses = [get_status(url) for url in urls]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _out, errors = process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, errors = process.communicate()

    assert statuses == [200] * len(urls), errors.decode()
    assert process.returncode == 0, errors.decode()


def test_a_wrong_setting_is_caught_by_these_checks() -> None:
    assert variable_problem("TIMERSERVER_RUNNER__LOOKAHEAD") is not None
    assert variable_problem("TIMERSERVER_CALLBACKS") is not None
    assert setting_problem("runner.batch_size") is None
    assert command_problems(["timerserver", "runner", "--port", "1"]) != []
    with pytest.raises(SettingsError):
        settings_from(None, {"TIMERSERVER_PORT": "eighty"}, ["serve"])
