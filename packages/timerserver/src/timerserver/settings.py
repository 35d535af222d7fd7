"""Server settings: defaults, then a TOML file, then the environment, then flags.

The file is ``--config FILE`` or, if that is not given, ``timerserver.toml``
in the working directory when it exists. Environment variables carry the
prefix ``TIMERSERVER_`` and use ``__`` between nested keys, as in
``TIMERSERVER_CALLBACKS__ALLOW_PRIVATE_NETWORKS=true``; their values are read
as TOML scalars, so ``true`` and ``8080`` mean what they look like.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from dynaconf import Dynaconf

from timerkernel import RunnerSettings as KernelRunnerSettings

DEFAULT_STORAGE = "sqlite:///./timers.db"
_RUNNER_DEFAULTS = KernelRunnerSettings()
DEFAULT_CONFIG_FILE = "timerserver.toml"


class SettingsError(ValueError):
    """A setting has a value the server cannot use."""


@attrs.frozen
class CallbackSettings:
    """How callbacks are made.

    :param allow_private_networks: allow callbacks to loopback, private and
        link-local addresses; ``None`` means: only when the server listens
        on a loopback address.
    :param signing_secret: HMAC secret for ``Timer-Signature``; empty for none.
    :param max_connections: concurrent deliveries in all.
    :param max_per_host: concurrent deliveries to one target host.
    """

    allow_private_networks: bool | None = None
    signing_secret: str = ""
    max_connections: int = 512
    max_per_host: int = 64


@attrs.frozen
class LimitSettings:
    """Limits on what a client may send."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_payload_bytes: int = 64 * 1024
    max_batch: int = 1000


@attrs.frozen
class RunnerSettings:
    """The runner inside ``serve``, or the process ``runner`` starts.

    The defaults are the kernel's own, so that the library and the server
    pace a runner alike.
    """

    enabled: bool = True
    #: Where ``timerserver runner`` serves /metrics, /healthz and /readyz (on
    #: the ``host`` setting); unset, it serves nothing. ``serve`` ignores it.
    metrics_port: int | None = None
    lookahead_seconds: float = _RUNNER_DEFAULTS.lookahead_seconds
    poll_interval_seconds: float = _RUNNER_DEFAULTS.poll_interval_seconds
    change_margin_seconds: float = _RUNNER_DEFAULTS.change_margin_seconds
    full_poll_interval_seconds: float = _RUNNER_DEFAULTS.full_poll_interval_seconds
    batch_size: int = _RUNNER_DEFAULTS.batch_size
    max_in_flight: int = _RUNNER_DEFAULTS.max_in_flight
    lease_duration_seconds: float = _RUNNER_DEFAULTS.lease_duration_seconds
    heartbeat_interval_seconds: float = _RUNNER_DEFAULTS.heartbeat_interval_seconds
    purge_interval_seconds: float = _RUNNER_DEFAULTS.purge_interval_seconds

    def for_kernel(self) -> KernelRunnerSettings:
        """The kernel's settings of a runner with these values."""
        values = attrs.asdict(self)
        del values["enabled"], values["metrics_port"]
        return KernelRunnerSettings(**values)


@attrs.frozen
class Settings:
    """Everything the server reads at start-up."""

    host: str = "127.0.0.1"
    port: int = 8080
    storage: str = DEFAULT_STORAGE
    # Connections the store keeps open to its database; unset takes the
    # store's own default. Not used by the memory store.
    storage_pool_size: int | None = None
    shards: int = 16
    migrate: bool = True
    log_level: str = attrs.field(
        default="info",
        validator=attrs.validators.in_(("debug", "info", "warning", "error")),
    )
    log_json: bool = False
    retention_seconds: float = 7 * 86_400.0
    shutdown_grace_seconds: float = 0.0
    callbacks: CallbackSettings = attrs.Factory(CallbackSettings)
    limits: LimitSettings = attrs.Factory(LimitSettings)
    runner: RunnerSettings = attrs.Factory(RunnerSettings)

    @property
    def private_networks_allowed(self) -> bool:
        """Whether callbacks may go to loopback and private addresses."""
        if self.callbacks.allow_private_networks is not None:
            return self.callbacks.allow_private_networks

        return is_loopback_host(self.host)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict, secrets and storage credentials hidden."""
        data = attrs.asdict(self)
        if data["callbacks"]["signing_secret"]:
            data["callbacks"]["signing_secret"] = "***"

        data["storage"] = redact_url(self.storage)
        return data


def is_loopback_host(host: str) -> bool:
    """Whether *host* (a name or an address) is a loopback address."""
    if host == "localhost":
        return True

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """Hide the password of a storage URL, for logs."""
    scheme, separator, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url

    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def load_settings(
    *, config_file: str | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read the settings in their order of precedence.

    :param config_file: the TOML file; ``timerserver.toml`` if it exists.
    :param overrides: values from command-line flags, by dotted key
        (``"runner.enabled"``); ``None`` values are ignored.
    :raises SettingsError: naming the setting that is wrong.
    """
    files: list[str] = []
    if config_file is not None:
        if not Path(config_file).is_file():
            raise SettingsError(f"config file {config_file!r} does not exist")

        files.append(config_file)
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        files.append(DEFAULT_CONFIG_FILE)

    loaded = Dynaconf(
        envvar_prefix="TIMERSERVER",
        settings_files=files,
        environments=False,
        merge_enabled=True,
        nested_separator="__",
    )
    data = _lowercase_keys(loaded.as_dict())
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)

    return _build(data)


def _lowercase_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in data.items():
        result[str(key).lower()] = (
            _lowercase_keys(value) if isinstance(value, Mapping) else value
        )

    return result


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for parent in parents:
        data = data.setdefault(parent, {})

    data[leaf] = value


def _build(data: Mapping[str, Any]) -> Settings:
    sections = {
        "callbacks": CallbackSettings,
        "limits": LimitSettings,
        "runner": RunnerSettings,
    }
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in sections:
            if not isinstance(value, Mapping):
                raise SettingsError(f"setting {name!r} must be a table")

            values[name] = _build_section(sections[name], value, name)
        else:
            values[name] = value

    settings: Settings = _build_section(Settings, values, "")
    return settings


def _build_section(cls: type[Any], data: Mapping[str, Any], prefix: str) -> Any:
    fields = attrs.fields_dict(cls)
    arguments: dict[str, Any] = {}
    for name, value in data.items():
        path = f"{prefix}.{name}" if prefix else name
        field = fields.get(name)
        if field is None:
            raise SettingsError(f"unknown setting {path!r}")

        arguments[name] = (
            value if attrs.has(type(value)) else _coerce(value, field, path)
        )

    try:
        return cls(**arguments)
    except ValueError as exc:
        raise SettingsError(
            f"a setting of {prefix or 'the server'} is invalid: {exc}"
        ) from None


def _coerce(value: Any, field: attrs.Attribute[Any], path: str) -> Any:
    kind = str(field.type)
    if "bool" in kind:
        if value is None and "None" in kind:
            return None

        if isinstance(value, bool):
            return value

        raise SettingsError(f"setting {path!r} must be true or false, not {value!r}")

    if value is None and "None" in kind:
        return None

    if kind.startswith("int"):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value

        raise SettingsError(
            f"setting {path!r} must be a whole number >= 0, not {value!r}"
        )

    if kind == "float":
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and value >= 0
        ):
            return float(value)

        raise SettingsError(f"setting {path!r} must be a number >= 0, not {value!r}")

    if not isinstance(value, str):
        raise SettingsError(f"setting {path!r} must be a string, not {value!r}")

    return value
