"""The ``[auth]`` settings: how keys are written, and when ``serve`` refuses to start.

The rules of a key are checked where the settings are read, in this process;
what ``serve`` does with them runs the real command.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from blackbox import run_cli
from timerserver.settings import ApiKey, Settings, SettingsError, load_settings

TOKEN = "a-token-of-twenty-chars"
# Not on this machine: a server that got past its checks fails to bind here.
NOT_LOOPBACK = "192.0.2.1"


def settings_from(tmp_path: Path, text: str, **env: str) -> Settings:
    config = tmp_path / "timerserver.toml"
    config.write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        # The suite's own TIMERSERVER_TEST_STORAGE would read as a setting.
        for name in os.environ:
            if name.startswith("TIMERSERVER_"):
                patch.delenv(name)

        for name, value in env.items():
            patch.setenv(name, value)

        return load_settings(config_file=str(config))


class TestKeys:
    def test_plain_token_is_kept_as_its_hash_only(self, tmp_path: Path) -> None:
        settings = settings_from(
            tmp_path,
            f'[auth.keys.ops]\ntoken = "{TOKEN}"\nnamespaces = "*"\n',
        )

        (key,) = settings.auth.keys
        assert key == ApiKey(
            name="ops",
            token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
            namespaces=None,
        )
        assert TOKEN not in repr(settings)
        assert TOKEN not in str(settings.redacted())

    def test_hash_is_taken_in_either_case(self, tmp_path: Path) -> None:
        digest = hashlib.sha256(TOKEN.encode()).hexdigest()

        settings = settings_from(
            tmp_path,
            f'[auth.keys.a]\ntoken_sha256 = "{digest.upper()}"\nnamespaces = ["x"]\n',
        )

        assert settings.auth.keys[0].token_sha256 == digest
        assert settings.auth.keys[0].covers("x")
        assert not settings.auth.keys[0].covers("y")

    def test_environment_adds_a_key_and_replaces_a_list(self, tmp_path: Path) -> None:
        settings = settings_from(
            tmp_path,
            f'[auth.keys.a]\ntoken = "{TOKEN}"\nnamespaces = ["x", "y"]\n',
            TIMERSERVER_AUTH__KEYS__A__NAMESPACES="z",
            TIMERSERVER_AUTH__KEYS__B__TOKEN=TOKEN + "-b",
            TIMERSERVER_AUTH__KEYS__B__NAMESPACES="p, q",
        )

        scopes = {key.name: key.namespaces for key in settings.auth.keys}
        assert scopes == {"a": frozenset({"z"}), "b": frozenset({"p", "q"})}

    def test_no_keys_means_the_api_is_open(self, tmp_path: Path) -> None:
        settings = settings_from(tmp_path, "")

        assert not settings.auth.enabled
        assert settings.auth.keys == ()

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            pytest.param(
                '[auth.keys.a]\nnamespaces = "*"\n', "token or token_sha256", id="none"
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\ntoken_sha256 = "{"0" * 64}"\n'
                'namespaces = "*"\n',
                "token or token_sha256",
                id="both",
            ),
            pytest.param(
                '[auth.keys.a]\ntoken = "short"\nnamespaces = "*"\n',
                "auth.keys.a.token",
                id="token-too-short",
            ),
            pytest.param(
                '[auth.keys.a]\ntoken = "has a space in it, long"\nnamespaces = "*"\n',
                "auth.keys.a.token",
                id="token-with-space",
            ),
            pytest.param(
                '[auth.keys.a]\ntoken = 12345678901234567\nnamespaces = "*"\n',
                "must be a string",
                id="token-not-a-string",
            ),
            pytest.param(
                '[auth.keys.a]\ntoken_sha256 = "abc"\nnamespaces = "*"\n',
                "64 hex digits",
                id="hash-too-short",
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\n', "namespaces", id="no-namespaces"
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\nnamespaces = []\n',
                "namespaces",
                id="no-namespace-listed",
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\nnamespaces = ["Bad!"]\n',
                "'Bad!' is not a namespace",
                id="invalid-namespace",
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\nnamespaces = ["*", "x"]\n',
                "stands alone",
                id="star-and-names",
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\nnamespaces = "*"\n'
                f'[auth.keys.b]\ntoken = "{TOKEN}"\nnamespaces = "*"\n',
                "the same token",
                id="same-token-twice",
            ),
            pytest.param(
                f'[auth.keys.a]\ntoken = "{TOKEN}"\nnamespaces = "*"\nscope = "x"\n',
                "unknown setting 'auth.keys.a.scope'",
                id="unknown-field",
            ),
            pytest.param(
                f'[auth]\ndisabled = true\n[auth.keys.a]\ntoken = "{TOKEN}"\n'
                'namespaces = "*"\n',
                "auth.disabled",
                id="disabled-with-keys",
            ),
            pytest.param('[auth]\nkeys = ["x"]\n', "[auth.keys.NAME]", id="keys-list"),
            pytest.param('[auth]\ndisabled = "yes"\n', "true or false", id="bad-flag"),
        ],
    )
    def test_bad_key_is_refused_naming_what_is_wrong(
        self, tmp_path: Path, text: str, named: str
    ) -> None:
        with pytest.raises(SettingsError) as caught:
            settings_from(tmp_path, text)

        assert named in str(caught.value)
        assert TOKEN not in str(caught.value)


class TestServeOnTheNetwork:
    def test_serve_without_keys_on_a_network_address_refuses_to_start(
        self, tmp_path: Path
    ) -> None:
        result = run_cli(
            ["serve", "--host", NOT_LOOPBACK, "--storage", "memory://"], cwd=tmp_path
        )

        assert result.returncode == 2, result.stderr
        assert "needs API keys" in result.stderr
        assert "auth.disabled" in result.stderr

    def test_auth_disabled_lets_serve_go_on_without_keys(self, tmp_path: Path) -> None:
        result = run_cli(
            ["serve", "--host", NOT_LOOPBACK, "--storage", "memory://", "--no-runner"],
            cwd=tmp_path,
            env={"TIMERSERVER_AUTH__DISABLED": "true"},
        )

        # Past the check, it fails only where it binds: the address is not here.
        assert result.returncode == 1, result.stderr
        assert "has no authentication (auth.disabled is true)" in result.stderr

    def test_a_bad_key_stops_every_command(self, tmp_path: Path) -> None:
        result = run_cli(
            ["migrate", "--storage", "memory://"],
            cwd=tmp_path,
            env={"TIMERSERVER_AUTH__KEYS__OPS__TOKEN": "short"},
        )

        assert result.returncode == 2
        assert "auth.keys.ops.token" in result.stderr
