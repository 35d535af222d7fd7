"""Every development task of the repository as a nox session.

``./dev test`` runs ``lint``, ``typecheck``, ``tests``, ``sdks`` and ``webui``;
``./dev serve`` runs ``serve``. Sessions install the packages of this
repository in editable mode with uv, so a second run only checks what
changed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

# Installed packages get their bytecode compiled once, at install: where
# PYTHONDONTWRITEBYTECODE is set, each server start in the tests would
# otherwise compile every imported module again (over a second each time).
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests", "sdks", "webui"]
nox.options.error_on_missing_interpreters = False

SERVER_PACKAGES = [
    "packages/timerkernel[http]",
    "packages/backends",
    "packages/timerserver",
]
PACKAGES = [*SERVER_PACKAGES, "packages/sdk-py"]
TEST_REQUIREMENTS = [
    "pytest>=8.3",
    "pytest-timeout>=2.3",
    "httpx>=0.27",
    "anyio>=4.4",
    "uvicorn>=0.30",
    "openapi-spec-validator>=0.7",
    # Generated input: property tests, and the fuzzing of the served OpenAPI.
    "hypothesis>=6.100",
    "schemathesis>=4.32",
    # The store's second PostgreSQL driver, tested beside asyncpg.
    "psycopg[binary]>=3.2",
    "pyyaml>=6",
    # Records the spans of deliveries and requests in the tracing tests, and
    # exports them over OTLP as docs/operations/metrics.md says to.
    "opentelemetry-sdk>=1.27",
    "opentelemetry-distro>=0.48b0",
    "opentelemetry-exporter-otlp-proto-http>=1.27",
]
TOOLS = ["ruff==0.17.6", "mypy==2.4.1"]
SOURCES = ["packages", "bench", "docs", "deploy", "noxfile.py"]
# The load generator, the plot, the profiler and the peers measured beside
# the service (APScheduler 3, not 4: the release its users run).
BENCH_REQUIREMENTS = [
    "aiohttp>=3.10",
    "matplotlib>=3.8",
    "py-spy>=0.3.14",
    "pyinstrument>=4.6",
    "apscheduler>=3.10,<4",
    "procrastinate>=3.10,<4",
    "psycopg[binary,pool]>=3.2",
]
SERVER_TESTS = "packages/timerserver/tests"
# The backends the server's suite runs on again, after SQLite.
SERVER_STORAGES = ["postgres", "cassandra", "mongodb"]
TEST_FOLDERS = [
    "packages/timerkernel/tests",
    "packages/backends/tests",
    SERVER_TESTS,
    "packages/sdk-py/tests",
    "docs",
    "deploy",
]
TESTED_WITH = {"packages/sdk-py/tests": ["packages/sdk-py/examples"]}
# The SDKs in other languages, each with the commands that check, build and
# test it from its own folder. Their integration tests start the timerserver
# named by TIMERSDK_SERVER.
SDK_STEPS = {
    "go": [
        ["go", "vet", "./..."],
        ["go", "test", "-count=1", "./..."],
    ],
    "js": [
        ["npm", "ci", "--no-audit", "--no-fund"],
        ["npm", "run", "lint"],
        ["npm", "test"],
    ],
    "java": [
        ["mvn", "-q", "-B", "-ntp", "verify"],
    ],
}


WEBUI = Path("webui")
WEBUI_OUTPUT = Path("packages/timerserver/src/timerserver/webui")
# What the web UI's build reads; the output is stale when one is newer.
WEBUI_INPUTS = ["src", "index.html", "package-lock.json", "vite.config.ts"]
CHROMIUM = "/usr/bin/chromium"


def install_packages(
    session: nox.Session, *extra: str, packages: list[str] = PACKAGES
) -> None:
    editable = [arg for package in packages for arg in ("-e", package)]
    session.install(*editable, *extra)


@nox.session
def lint(session: nox.Session) -> None:
    """Check formatting and lint rules with ruff."""
    session.install(TOOLS[0])
    session.run("ruff", "format", "--check", *SOURCES)
    session.run("ruff", "check", *SOURCES)


@nox.session
def fmt(session: nox.Session) -> None:
    """Format the sources and apply ruff's safe fixes."""
    session.install(TOOLS[0])
    session.run("ruff", "check", "--fix", *SOURCES)
    session.run("ruff", "format", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the packages and their tests with mypy --strict."""
    install_packages(session, *TEST_REQUIREMENTS, TOOLS[1], "types-PyYAML>=6")
    session.run(
        "mypy",
        "packages/timerkernel/src",
        "packages/backends/src",
        "packages/timerserver/src",
        "packages/sdk-py/src",
    )
    # Each test folder has its own conftest and helper modules, so each is
    # checked on its own with its folder on the module path. The Python
    # SDK's tests run its examples, which are checked with them.
    for folder in TEST_FOLDERS:
        paths = [folder, *TESTED_WITH.get(folder, [])]
        session.run("mypy", *paths, env={"MYPYPATH": os.pathsep.join(paths)})


@nox.session
def tests(session: nox.Session) -> None:
    """Run every package's tests; arguments after -- go to pytest.

    The first pass runs the store conformance suite on every backend, each
    on a server the tests start themselves (PostgreSQL, installed as root
    where it is missing; Cassandra from Maven Central; FerretDB built from
    the Go module proxy). The server's black-box suite then runs again with
    every server on each of SERVER_STORAGES.
    Tests marked with a backend bring their own server whatever the pass,
    so they run in the first one only.
    """
    install_packages(session, *TEST_REQUIREMENTS)
    session.run("pytest", *TEST_FOLDERS, *session.posargs)
    for storage in SERVER_STORAGES:
        session.run(
            "pytest",
            SERVER_TESTS,
            "-m",
            "not postgres",
            *session.posargs,
            env={"TIMERSERVER_TEST_STORAGE": storage},
            # Arguments meant for the first pass may select nothing here.
            success_codes=[0, 5],
        )


@nox.session
def sdks(session: nox.Session) -> None:
    """Check, build and test the Go, TypeScript and Java SDKs.

    Arguments after -- choose languages (go, js, java); the default is all.
    The Python SDK is a package of this repository and its tests run in
    ``tests``.
    """
    languages = session.posargs or list(SDK_STEPS)
    unknown = sorted(set(languages) - set(SDK_STEPS))
    if unknown:
        known = ", ".join(SDK_STEPS)
        session.error(f"unknown SDK {', '.join(unknown)}; known: {known}")

    install_packages(session, packages=SERVER_PACKAGES)
    server = os.path.join(session.bin, "timerserver")

    if "go" in languages:
        unformatted = session.run("gofmt", "-l", "sdk-go", external=True, silent=True)
        if unformatted:
            session.error(f"gofmt would change:\n{unformatted}")

    for language in languages:
        with session.chdir(f"sdk-{language}"):
            for step in SDK_STEPS[language]:
                session.run(*step, external=True, env={"TIMERSDK_SERVER": server})


def newest_change(paths: list[Path]) -> float:
    """The latest modification time of the files under *paths*."""
    newest = 0.0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)

    return newest


def build_webui(session: nox.Session, *, always: bool = False) -> None:
    """Build the web UI into the server package, unless it is up to date.

    ``npm ci`` runs only when the lock file changed since the last install.
    """
    index = WEBUI_OUTPUT / "index.html"
    inputs = [WEBUI / name for name in WEBUI_INPUTS]
    if not always and index.exists() and index.stat().st_mtime >= newest_change(inputs):
        return

    installed = WEBUI / "node_modules" / ".package-lock.json"
    lock = WEBUI / "package-lock.json"
    with session.chdir(WEBUI):
        if (
            always
            or not installed.exists()
            or installed.stat().st_mtime < lock.stat().st_mtime
        ):
            session.run("npm", "ci", "--no-audit", "--no-fund", external=True)

        session.run("npm", "run", "build", external=True)


def ensure_chromium(session: nox.Session) -> None:
    """Install Debian's Chromium for the browser tests where it is missing."""
    if Path(CHROMIUM).exists():
        return

    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.error(
            f"the browser tests need Chromium at {CHROMIUM}: "
            "install Debian's chromium package (apt-get install chromium)"
        )

    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-q", external=True, env=env)
    session.run(
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "chromium",
        external=True,
        env=env,
    )


@nox.session
def webui(session: nox.Session) -> None:
    """Lint and build the web UI, and run its browser tests in Chromium."""
    install_packages(session, packages=SERVER_PACKAGES)
    ensure_chromium(session)
    build_webui(session, always=True)
    with session.chdir(WEBUI):
        session.run("npm", "run", "lint", external=True)
        session.run(
            "npm",
            "test",
            external=True,
            env={"TIMERUI_SERVER": os.path.join(session.bin, "timerserver")},
        )


@nox.session
def serve(session: nox.Session) -> None:
    """Start the server on the embedded SQLite store (./timers.db by default).

    The web UI is built first when Node.js and npm are there; without them
    the server serves a page of links at / instead.
    """
    install_packages(session)
    if shutil.which("npm") is None:
        session.warn("npm was not found: the server runs without its web UI")
    else:
        build_webui(session)

    session.run("timerserver", "serve", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark and write docs/performance.md; see bench/README.md."""
    install_packages(session, *BENCH_REQUIREMENTS)
    session.run("python", "bench/run.py", *session.posargs)
