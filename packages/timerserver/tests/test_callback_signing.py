"""Callback signatures: a secret per namespace, and two during a rotation.

The settings are read here in this process; what the server signs with is
checked on the callbacks a real server sends to a real receiver.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from blackbox import (
    Api,
    Receiver,
    ServerFactory,
    namespace_for,
    timer_body,
    utc_now,
)
from test_auth_settings import settings_from
from timerserver.settings import SettingsError

SHARED = "shared-secret-for-the-rest"
NEW = "tenant-secret-new"
OLD = "tenant-secret-old"


def signatures(header: str) -> tuple[str, list[str]]:
    """The time and every ``v1`` value of a ``Timer-Signature`` header."""
    timestamp, values = "", []
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            values.append(value)

    return timestamp, values


def hmac_hex(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class TestSettings:
    def test_namespace_has_its_own_secrets_and_others_the_shared_one(
        self, tmp_path: Path
    ) -> None:
        settings = settings_from(
            tmp_path,
            f'[callbacks]\nsigning_secret = "{SHARED}"\n'
            f'[callbacks.namespaces.tenant]\nsigning_secret = "{NEW}"\n'
            f'previous_signing_secret = "{OLD}"\n',
        )

        callbacks = settings.callbacks
        assert callbacks.signing_secrets("tenant") == (NEW, OLD)
        assert callbacks.signing_secrets("anyone-else") == (SHARED,)

    def test_without_a_shared_secret_other_namespaces_go_unsigned(
        self, tmp_path: Path
    ) -> None:
        settings = settings_from(
            tmp_path, f'[callbacks.namespaces.tenant]\nsigning_secret = "{NEW}"\n'
        )

        assert settings.callbacks.signs
        assert settings.callbacks.signing_secrets("tenant") == (NEW,)
        assert settings.callbacks.signing_secrets("other") is None

    def test_the_environment_sets_a_namespace_secret(self, tmp_path: Path) -> None:
        settings = settings_from(
            tmp_path,
            "",
            TIMERSERVER_CALLBACKS__NAMESPACES__TENANT__SIGNING_SECRET=NEW,
            TIMERSERVER_CALLBACKS__NAMESPACES__TENANT__PREVIOUS_SIGNING_SECRET=OLD,
        )

        assert settings.callbacks.signing_secrets("tenant") == (NEW, OLD)

    def test_no_secret_shows_in_the_logged_settings(self, tmp_path: Path) -> None:
        settings = settings_from(
            tmp_path,
            f'[callbacks]\nsigning_secret = "{SHARED}"\n'
            f'previous_signing_secret = "{OLD}x"\n'
            f'[callbacks.namespaces.tenant]\nsigning_secret = "{NEW}"\n'
            f'previous_signing_secret = "{OLD}"\n',
        )

        shown = f"{settings.redacted()} {settings!r}"
        for secret in (SHARED, NEW, OLD):
            assert secret not in shown

        callbacks = settings.redacted()["callbacks"]
        assert callbacks["namespaces"]["tenant"] == {
            "signing_secret": "***",
            "previous_signing_secret": "***",
        }

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param(
                '[callbacks]\nprevious_signing_secret = "old"\n',
                "'callbacks.previous_signing_secret' needs callbacks.signing_secret",
                id="previous-alone",
            ),
            pytest.param(
                '[callbacks.namespaces.tenant]\nprevious_signing_secret = "old"\n',
                "'callbacks.namespaces.tenant.signing_secret' is required",
                id="namespace-without-secret",
            ),
            pytest.param(
                '[callbacks.namespaces."no space"]\nsigning_secret = "s"\n',
                "'no space' is not a namespace",
                id="bad-namespace",
            ),
            pytest.param(
                '[callbacks.namespaces.tenant]\nsigning_secret = "s"\nspare = 1\n',
                "unknown setting 'callbacks.namespaces.tenant.spare'",
                id="unknown-field",
            ),
            pytest.param(
                '[callbacks]\nnamespaces = "tenant"\n',
                "'callbacks.namespaces' must be a table",
                id="not-a-table",
            ),
            pytest.param(
                "[callbacks.namespaces.tenant]\nsigning_secret = 7\n",
                "'callbacks.namespaces.tenant.signing_secret' must be a string",
                id="not-a-string",
            ),
        ],
    )
    def test_a_wrong_setting_is_named(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
            settings_from(tmp_path, text)


def test_callbacks_are_signed_with_their_namespaces_secrets(
    server_factory: ServerFactory,
    receiver: Receiver,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    tenant = namespace_for(request.node.nodeid + "-tenant")
    other = namespace_for(request.node.nodeid + "-other")
    config = tmp_path / "signing.toml"
    config.write_text(
        f'[callbacks]\nsigning_secret = "{SHARED}"\n'
        f'[callbacks.namespaces.{tenant}]\nsigning_secret = "{NEW}"\n'
        f'previous_signing_secret = "{OLD}"\n'
    )
    process = server_factory(args=["--config", str(config)])

    with process.client() as client:
        Api(client, tenant).created(
            timer_body("t", receiver.url("/tenant"), fire_at=utc_now())
        )
        Api(client, other).created(
            timer_body("o", receiver.url("/other"), fire_at=utc_now())
        )
        (to_tenant,) = receiver.wait_for(1, "/tenant")
        (to_other,) = receiver.wait_for(1, "/other")

    # During the rotation a receiver that knows either secret verifies it.
    timestamp, values = signatures(to_tenant.headers["timer-signature"])
    assert values == [
        hmac_hex(NEW, timestamp, to_tenant.body),
        hmac_hex(OLD, timestamp, to_tenant.body),
    ]

    # Another namespace's receiver cannot verify the tenant's callbacks.
    timestamp, values = signatures(to_other.headers["timer-signature"])
    assert values == [hmac_hex(SHARED, timestamp, to_other.body)]
