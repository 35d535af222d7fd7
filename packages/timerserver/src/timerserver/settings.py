"""Server settings: defaults, then a TOML file, then the environment, then flags.

The file is ``--config FILE`` or, if that is not given, ``timerserver.toml``
in the working directory when it exists. Environment variables carry the
prefix ``TIMERSERVER_`` and use ``__`` between nested keys, as in
``TIMERSERVER_CALLBACKS__ALLOW_PRIVATE_NETWORKS=true``; their values are read
as TOML scalars, so ``true`` and ``8080`` mean what they look like.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from dynaconf import Dynaconf

from timerkernel import NAMESPACE_PATTERN
from timerkernel import RunnerSettings as KernelRunnerSettings

DEFAULT_STORAGE = "sqlite:///./timers.db"
_RUNNER_DEFAULTS = KernelRunnerSettings()
DEFAULT_CONFIG_FILE = "timerserver.toml"


class SettingsError(ValueError):
    """A setting has a value the server cannot use."""


@attrs.frozen
class NamespaceCallbackSettings:
    """The callback settings of one namespace, over the server's own.

    :param signing_secret: the namespace's HMAC secret, which the loader
        requires.
    :param previous_signing_secret: the secret it replaces, signed with as
        well until every receiver knows the new one; empty for none.
    """

    signing_secret: str = attrs.field(default="", repr=False)
    previous_signing_secret: str = attrs.field(default="", repr=False)


@attrs.frozen
class CallbackSettings:
    """How callbacks are made.

    :param allow_private_networks: allow callbacks to loopback, private and
        link-local addresses; ``None`` means: only when the server listens
        on a loopback address.
    :param signing_secret: HMAC secret for ``Timer-Signature`` of every
        namespace without one of its own; empty for none.
    :param previous_signing_secret: the secret that *signing_secret*
        replaces; while set, callbacks carry a signature under each.
    :param namespaces: settings of single namespaces, by name.
    :param max_connections: concurrent deliveries in all.
    :param max_per_host: concurrent deliveries to one target host.
    """

    allow_private_networks: bool | None = None
    signing_secret: str = attrs.field(default="", repr=False)
    previous_signing_secret: str = attrs.field(default="", repr=False)
    namespaces: Mapping[str, NamespaceCallbackSettings] = attrs.field(
        factory=dict, repr=False
    )
    max_connections: int = 512
    max_per_host: int = 64

    def __attrs_post_init__(self) -> None:
        if self.previous_signing_secret and not self.signing_secret:
            raise SettingsError(
                "setting 'callbacks.previous_signing_secret' needs "
                "callbacks.signing_secret, the secret that replaces it"
            )

    def signing_secrets(self, namespace: str) -> tuple[str, ...] | None:
        """The secrets that sign *namespace*'s callbacks, the current first.

        A namespace with settings of its own uses only its own secrets;
        ``None`` means that its callbacks go unsigned.
        """
        own = self.namespaces.get(namespace)
        current, previous = (
            (self.signing_secret, self.previous_signing_secret)
            if own is None
            else (own.signing_secret, own.previous_signing_secret)
        )
        if not current:
            return None

        return (current, previous) if previous else (current,)

    @property
    def signs(self) -> bool:
        """Whether any namespace's callbacks are signed."""
        return bool(self.signing_secret or self.namespaces)


_POSITIVE = attrs.validators.ge(1)


@attrs.frozen
class LimitSettings:
    """Limits on what a client may send.

    :param max_body_bytes: a request body.
    :param max_payload_bytes: a timer's payload, serialized.
    :param max_batch: the timers of one batch create.
    :param max_page_size: the largest ``limit`` of a list request.
    :param max_header_bytes: a request's line and headers together.
    """

    max_body_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=_POSITIVE)
    max_payload_bytes: int = attrs.field(default=64 * 1024, validator=_POSITIVE)
    max_batch: int = attrs.field(default=1000, validator=_POSITIVE)
    max_page_size: int = attrs.field(default=1000, validator=_POSITIVE)
    max_header_bytes: int = attrs.field(default=32 * 1024, validator=_POSITIVE)


#: A key's name, as logs show it; names are read in lower case.
KEY_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
#: Bearer tokens are visible ASCII: what an Authorization header carries as is.
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]+")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
MIN_TOKEN_LENGTH = 16
ALL_NAMESPACES = "*"


@attrs.frozen
class ApiKey:
    """One API key: a bearer token, known only by its SHA-256, and its scope.

    :param name: what logs call the key; never the token.
    :param token_sha256: the SHA-256 of the token, 64 lower-case hex digits.
    :param namespaces: the namespaces the key may use; ``None`` for all.
    """

    name: str
    token_sha256: str = attrs.field(repr=False)
    namespaces: frozenset[str] | None

    def covers(self, namespace: str) -> bool:
        """Whether the key may use *namespace*."""
        return self.namespaces is None or namespace in self.namespaces

    def redacted(self) -> dict[str, Any]:
        """The key as logs may show it: its name and scope, no hash."""
        namespaces = (
            ALL_NAMESPACES if self.namespaces is None else sorted(self.namespaces)
        )
        return {"name": self.name, "token_sha256": "***", "namespaces": namespaces}


@attrs.frozen
class AuthSettings:
    """Who may call the API.

    :param keys: the API keys; none means that the API is open.
    :param disabled: serve the API without keys on a host that is not a
        loopback address (``serve`` refuses to otherwise).
    """

    keys: tuple[ApiKey, ...] = ()
    disabled: bool = False

    @property
    def enabled(self) -> bool:
        """Whether requests to the API need a key."""
        return bool(self.keys)


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
    auth: AuthSettings = attrs.Factory(AuthSettings)

    @property
    def private_networks_allowed(self) -> bool:
        """Whether callbacks may go to loopback and private addresses."""
        if self.callbacks.allow_private_networks is not None:
            return self.callbacks.allow_private_networks

        return is_loopback_host(self.host)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict, secrets and storage credentials hidden."""
        data = attrs.asdict(self)
        data["callbacks"] = _redacted_callbacks(self.callbacks)

        data["storage"] = redact_url(self.storage)
        data["auth"]["keys"] = [key.redacted() for key in self.auth.keys]
        return data

    def check_exposure(self) -> None:
        """Refuse an open API on a host that is not a loopback address.

        Like callbacks to private addresses, an API without keys is fine for
        development on this machine and a mistake elsewhere, unless
        ``auth.disabled`` says that something in front of the server
        authenticates the requests.

        :raises SettingsError: if the API would be open to the network.
        """
        if self.auth.enabled or self.auth.disabled or is_loopback_host(self.host):
            return

        raise SettingsError(
            f"listening on {self.host} needs API keys ([auth.keys.NAME], see "
            "docs/operations/security.md); set auth.disabled = true to serve "
            "the API without authentication"
        )


def _redacted_callbacks(callbacks: CallbackSettings) -> dict[str, Any]:
    def hide(secret: str) -> str:
        return "***" if secret else ""

    data = attrs.asdict(callbacks)
    data["signing_secret"] = hide(callbacks.signing_secret)
    data["previous_signing_secret"] = hide(callbacks.previous_signing_secret)
    data["namespaces"] = {
        name: {
            "signing_secret": hide(own.signing_secret),
            "previous_signing_secret": hide(own.previous_signing_secret),
        }
        for name, own in sorted(callbacks.namespaces.items())
    }
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
        "callbacks": _build_callbacks,
        "limits": lambda value: _build_section(LimitSettings, value, "limits"),
        "runner": lambda value: _build_section(RunnerSettings, value, "runner"),
        "auth": _build_auth,
    }
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in sections:
            if not isinstance(value, Mapping):
                raise SettingsError(f"setting {name!r} must be a table")

            values[name] = sections[name](value)
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
    except SettingsError:
        raise
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


def _build_callbacks(data: Mapping[str, Any]) -> CallbackSettings:
    values = dict(data)
    tables = values.pop("namespaces", {})
    if not isinstance(tables, Mapping):
        raise SettingsError(
            "setting 'callbacks.namespaces' must be a table of namespaces by "
            "name, as in [callbacks.namespaces.NAME]"
        )

    namespaces = {}
    for name in sorted(tables):
        path = f"callbacks.namespaces.{name}"
        if not NAMESPACE_PATTERN.fullmatch(name):
            raise SettingsError(
                f"setting {path!r}: {name!r} is not a namespace "
                f"({NAMESPACE_PATTERN.pattern})"
            )

        if not isinstance(tables[name], Mapping):
            raise SettingsError(f"setting {path!r} must be a table")

        own = _build_section(NamespaceCallbackSettings, tables[name], path)
        if not own.signing_secret:
            raise SettingsError(
                f"setting '{path}.signing_secret' is required and not empty: "
                "a namespace of its own is signed with a secret of its own"
            )

        namespaces[name] = own

    callbacks: CallbackSettings = _build_section(CallbackSettings, values, "callbacks")
    return attrs.evolve(callbacks, namespaces=namespaces)


def _build_auth(data: Mapping[str, Any]) -> AuthSettings:
    for name in data:
        if name not in ("keys", "disabled"):
            raise SettingsError(f"unknown setting 'auth.{name}'")

    disabled = data.get("disabled", False)
    if not isinstance(disabled, bool):
        raise SettingsError(
            f"setting 'auth.disabled' must be true or false, not {disabled!r}"
        )

    tables = data.get("keys", {})
    if not isinstance(tables, Mapping):
        raise SettingsError(
            "setting 'auth.keys' must be a table of keys by name, as in "
            "[auth.keys.NAME]"
        )

    keys = tuple(_build_key(name, tables[name]) for name in sorted(tables))
    by_hash: dict[str, str] = {}
    for key in keys:
        other = by_hash.setdefault(key.token_sha256, key.name)
        if other != key.name:
            raise SettingsError(
                f"API keys {other!r} and {key.name!r} have the same token"
            )

    if keys and disabled:
        raise SettingsError(
            "auth.disabled is true while auth.keys has keys: remove one of them"
        )

    return AuthSettings(keys=keys, disabled=disabled)


def _build_key(name: str, data: Any) -> ApiKey:
    path = f"auth.keys.{name}"
    if not KEY_NAME_PATTERN.fullmatch(name):
        raise SettingsError(
            f"API key name {name!r} must match {KEY_NAME_PATTERN.pattern}"
        )

    if not isinstance(data, Mapping):
        raise SettingsError(f"setting {path!r} must be a table")

    for field in data:
        if field not in ("token", "token_sha256", "namespaces"):
            raise SettingsError(f"unknown setting '{path}.{field}'")

    if ("token" in data) == ("token_sha256" in data):
        raise SettingsError(f"setting {path!r} needs one of token or token_sha256")

    if "token" in data:
        token_sha256 = hashlib.sha256(_plain_token(data["token"], path)).hexdigest()
    else:
        token_sha256 = _token_hash(data["token_sha256"], path)

    if "namespaces" not in data:
        raise SettingsError(
            f"setting '{path}.namespaces' is required: a list of namespaces, "
            f'or "{ALL_NAMESPACES}" for all of them'
        )

    return ApiKey(
        name=name,
        token_sha256=token_sha256,
        namespaces=_key_namespaces(data["namespaces"], f"{path}.namespaces"),
    )


def _plain_token(token: Any, path: str) -> bytes:
    # The value itself never goes into a message: it is a secret.
    if not isinstance(token, str):
        raise SettingsError(
            f"setting '{path}.token' must be a string (quote it in the environment)"
        )

    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN_PATTERN.fullmatch(token):
        raise SettingsError(
            f"setting '{path}.token' must be at least {MIN_TOKEN_LENGTH} "
            "characters of visible ASCII, without spaces"
        )

    return token.encode()


def _token_hash(value: Any, path: str) -> str:
    text = value.lower() if isinstance(value, str) else ""
    if not _SHA256_PATTERN.fullmatch(text):
        raise SettingsError(
            f"setting '{path}.token_sha256' must be 64 hex digits, the SHA-256 "
            "of the token"
        )

    return text


def _key_namespaces(value: Any, path: str) -> frozenset[str] | None:
    # The environment gives a comma-separated string: dynaconf would merge a
    # list with the file's list instead of replacing it.
    names = (
        [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    )
    if not isinstance(names, list) or not names:
        raise SettingsError(
            f"setting {path!r} must be a list of namespaces, or "
            f'"{ALL_NAMESPACES}" for all of them'
        )

    if ALL_NAMESPACES in names:
        if len(names) > 1:
            raise SettingsError(f'setting {path!r}: "{ALL_NAMESPACES}" stands alone')

        return None

    for name in names:
        if not isinstance(name, str) or not NAMESPACE_PATTERN.fullmatch(name):
            raise SettingsError(
                f"setting {path!r}: {name!r} is not a namespace "
                f"({NAMESPACE_PATTERN.pattern})"
            )

    return frozenset(names)
