"""The ``timerserver`` command: ``serve``, ``runner`` and ``migrate``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Sequence

import anyio
import uvicorn
from anyio.abc import TaskGroup

from timerbackends import create_store
from timerkernel import Kernel, KernelSettings, Runner, StorageError, StorageUnavailable
from timerkernel.http import HttpDispatcher

from . import __version__
from ._logging import configure_logging
from .app import ServerState, create_app, create_ops_app
from .guard import make_address_guard, make_url_guard
from .metrics import Metrics
from .settings import Settings, SettingsError, load_settings, redact_url

logger = logging.getLogger("timerserver")

# Exit codes: 0 after a clean stop, 1 when the service failed, 2 for bad usage.
EXIT_FAILURE = 1
EXIT_USAGE = 2
_STORAGE_RETRY_MAX_SECONDS = 10.0
# Young collections wait for this many new container objects (CPython's
# default is 700); see _tune_garbage_collector.
_GC_YOUNG_THRESHOLD = 10_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timerserver", description="The durable timer service."
    )
    parser.add_argument(
        "--version", action="version", version=f"timerserver {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run the REST API and, unless --no-runner, a runner"
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument(
        "--shards", type=int, help="shard count of new storage (default 16)"
    )
    serve.add_argument(
        "--no-runner",
        dest="runner_enabled",
        action="store_const",
        const=False,
        help="serve the API only; separate runner processes fire the timers",
    )

    runner = commands.add_parser(
        "runner", help="run a runner alone: fire timers, serve no API"
    )
    migrate = commands.add_parser(
        "migrate", help="create or upgrade the schema, then exit"
    )

    for command in (serve, runner, migrate):
        command.add_argument(
            "--storage", help="storage URL (default sqlite:///./timers.db)"
        )
        command.add_argument(
            "--config", help="TOML settings file (default ./timerserver.toml)"
        )
        command.add_argument("--log-level", help="debug, info, warning or error")
        command.add_argument(
            "--log-json", action="store_const", const=True, help="log JSON lines"
        )

    for command in (serve, runner):
        command.add_argument(
            "--no-migrate",
            dest="migrate",
            action="store_const",
            const=False,
            help="do not apply pending schema migrations at start",
        )

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    arguments = build_parser().parse_args(argv)
    overrides = {
        "storage": arguments.storage,
        "log_level": arguments.log_level,
        "log_json": arguments.log_json,
        "host": getattr(arguments, "host", None),
        "port": getattr(arguments, "port", None),
        "shards": getattr(arguments, "shards", None),
        "migrate": getattr(arguments, "migrate", None),
        "runner.enabled": getattr(arguments, "runner_enabled", None),
    }
    try:
        settings = load_settings(config_file=arguments.config, overrides=overrides)
        if arguments.command == "serve":
            settings.check_exposure()
    except SettingsError as exc:
        print(f"timerserver: {exc}", file=sys.stderr)
        return EXIT_USAGE

    configure_logging(settings.log_level, json_lines=settings.log_json)
    _tune_garbage_collector()
    commands = {"serve": _serve, "runner": _run_runner, "migrate": _migrate}
    try:
        return anyio.run(
            commands[arguments.command], settings, backend_options={"use_uvloop": True}
        )
    except KeyboardInterrupt:
        return 0


def _tune_garbage_collector() -> None:
    """Keep the cycle collector from costing more than the work it follows.

    Each request and delivery allocates many short-lived containers. At
    CPython's default threshold a young collection runs every few requests,
    and every full one walks each object loaded since start-up: about 45 ms
    a pass here, an ordinary stall for every delivery under way. What is
    alive now (modules, settings) is moved out of the collector's sight,
    and young collections wait for more new objects. Measured in process,
    a single create over ASGI on SQLite took 184 µs instead of 252 µs,
    with 0.24 s spent collecting instead of 1.29 s
    (docs/performance.md).
    """
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 10, 10)


def _kernel_for(settings: Settings, metrics: Metrics | None = None) -> Kernel:
    options = {}
    if settings.storage_pool_size is not None:
        options["pool_size"] = settings.storage_pool_size

    try:
        store = create_store(settings.storage, **options)
    except ValueError as exc:
        raise SettingsError(f"setting 'storage': {exc}") from None

    if metrics is not None:
        store = metrics.instrument(store)

    return Kernel(
        store,
        settings=KernelSettings(
            shard_count=settings.shards,
            max_payload_bytes=settings.limits.max_payload_bytes,
            retention_seconds=settings.retention_seconds,
        ),
    )


def _runner_for(kernel: Kernel, settings: Settings) -> Runner:
    runner = settings.runner
    dispatcher = HttpDispatcher(
        max_connections=settings.callbacks.max_connections,
        max_per_host=settings.callbacks.max_per_host,
        signing_secret=(
            settings.callbacks.signing_secrets if settings.callbacks.signs else None
        ),
        max_payload_bytes=settings.limits.max_payload_bytes,
        url_guard=make_url_guard(allow_private=settings.private_networks_allowed),
        address_guard=make_address_guard(
            allow_private=settings.private_networks_allowed
        ),
    )
    return Runner(
        kernel,
        dispatcher,
        runner_id=f"{socket.gethostname()}-{os.getpid()}",
        settings=runner.for_kernel(),
    )


async def _open_then_start(
    state: ServerState, runner: Runner | None, runners: TaskGroup, ready: str
) -> bool:
    """Open the storage, start *runner* in *runners*, then turn ready.

    :param ready: what the line logged once ready says.
    :return: False, after logging why, if the storage cannot be used.
    """
    try:
        await _initialize(state.kernel, state.settings)
    except StorageError as exc:
        logger.error("cannot open the storage: %s", exc)
        return False

    if runner is not None:
        await runners.start(runner.run)

    state.starting = False
    logger.info("ready: %s", ready, extra={"action": "ready"})
    return True


async def _initialize(kernel: Kernel, settings: Settings) -> None:
    """Open *kernel*'s storage, waiting while it is unreachable.

    :raises StorageError: if the storage answers but cannot be used.
    """
    delay = 0.5
    while True:
        try:
            await kernel.initialize(migrate=settings.migrate)
            return
        except StorageUnavailable as exc:
            logger.warning(
                "storage %s unreachable, retrying in %.1fs: %s",
                redact_url(settings.storage),
                delay,
                exc,
            )
            await anyio.sleep(delay)
            delay = min(delay * 2, _STORAGE_RETRY_MAX_SECONDS)


class _Server(uvicorn.Server):
    """uvicorn's server, with signals left to the command."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def _stop_on_signal() -> AsyncIterator[anyio.Event]:
    """Yield an event that is set at the first SIGTERM or SIGINT."""
    stop = anyio.Event()
    async with anyio.create_task_group() as task_group:

        async def wait_for_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for received in signals:
                    logger.info("received %s, stopping", signal.Signals(received).name)
                    stop.set()
                    return

        task_group.start_soon(wait_for_signal)
        yield stop
        task_group.cancel_scope.cancel()


async def _serve(settings: Settings) -> int:
    logger.info(
        "starting timerserver %s with settings %s", __version__, settings.redacted()
    )
    metrics = Metrics()
    try:
        kernel = _kernel_for(settings, metrics)
    except SettingsError as exc:
        logger.error("cannot open the storage: %s", exc)
        return EXIT_FAILURE

    _log_authentication(settings)
    # The server listens before the storage is open, so that probes get an
    # answer (alive, not ready) during a long migration or a database that
    # is not up yet, instead of a refused connection.
    state = ServerState(kernel=kernel, settings=settings, metrics=metrics)
    state.starting = True
    app = create_app(state)
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=_http_protocol(),
            h11_max_incomplete_event_size=settings.limits.max_header_bytes,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=30,
            # Longer than the idle timeout of common load balancers and
            # clients, so that the server is not the side that closes an
            # idle connection just as a client reuses it.
            timeout_keep_alive=75,
        )
    )

    runner = _runner_for(kernel, settings) if settings.runner.enabled else None
    if runner is not None:
        metrics.watch_runner(runner)

    storage_failed = False

    async def open_then_start(runners: TaskGroup) -> None:
        nonlocal storage_failed
        where = f"serving the API on http://{settings.host}:{settings.port}"
        if not await _open_then_start(state, runner, runners, where):
            storage_failed = True
            server.should_exit = True

    async def drain_on_signal(stop: anyio.Event) -> None:
        await stop.wait()
        state.draining = True
        logger.info(
            "draining: readiness is red; serving %.1f s more before stopping",
            settings.shutdown_grace_seconds,
            extra={"action": "draining"},
        )
        await anyio.sleep(settings.shutdown_grace_seconds)
        # Event streams never end by themselves; uvicorn would wait for them.
        state.events.close()
        server.should_exit = True

    try:
        async with _stop_on_signal() as stop, anyio.create_task_group() as helpers:
            helpers.start_soon(drain_on_signal, stop)
            async with anyio.create_task_group() as runners:
                runners.start_soon(open_then_start, runners)
                # uvicorn exits when it cannot listen; that is reported
                # below, without the traceback of an exit from a task.
                with contextlib.suppress(SystemExit):
                    await server.serve()

                if state.starting:
                    # Stopped before it was ready: nothing is in flight.
                    runners.cancel_scope.cancel()
                elif runner is not None:
                    # The API has stopped taking requests; let deliveries
                    # in flight finish and release the shards.
                    runner.stop()

            helpers.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await kernel.close()

    if storage_failed:
        return EXIT_FAILURE

    if not server.started:
        logger.error("could not listen on %s:%d", settings.host, settings.port)
        return EXIT_FAILURE

    logger.info("stopped")
    return 0


def _http_protocol() -> type[asyncio.Protocol] | str:
    """httptools with the head limit where it is installed, else h11 (which has it)."""
    try:
        from ._protocol import HeadLimitedHttpToolsProtocol
    except ImportError:
        return "h11"

    return HeadLimitedHttpToolsProtocol


def _log_authentication(settings: Settings) -> None:
    auth = settings.auth
    if auth.enabled:
        logger.info(
            "API keys required on /api/v1: %s",
            ", ".join(key.name for key in auth.keys),
        )
    elif auth.disabled:
        logger.warning(
            "the API on %s has no authentication (auth.disabled is true)",
            settings.host,
        )
    else:
        logger.info("no API keys configured: the API on %s is open", settings.host)


async def _run_runner(settings: Settings) -> int:
    logger.info("starting runner %s with settings %s", __version__, settings.redacted())
    metrics = Metrics()
    try:
        kernel = _kernel_for(settings, metrics)
    except SettingsError as exc:
        logger.error("cannot open the storage: %s", exc)
        return EXIT_FAILURE

    runner = _runner_for(kernel, settings)
    metrics.watch(kernel)
    metrics.watch_runner(runner)
    state = ServerState(kernel=kernel, settings=settings, metrics=metrics)
    state.starting = True
    port = settings.runner.metrics_port
    ops = None
    if port is not None:
        ops = _Server(
            uvicorn.Config(
                create_ops_app(state),
                host=settings.host,
                port=port,
                lifespan="off",
                access_log=False,
                log_config=None,
                server_header=False,
                timeout_graceful_shutdown=5,
            )
        )

    failed = False
    try:
        async with _stop_on_signal() as stop, anyio.create_task_group() as helpers:
            if ops is not None:

                async def serve_ops() -> None:
                    nonlocal failed
                    await ops.serve()
                    if not ops.started:
                        logger.error("could not listen on %s:%d", settings.host, port)
                        failed = True
                        stop.set()

                helpers.start_soon(serve_ops)

            async with anyio.create_task_group() as runners:

                async def open_then_start() -> None:
                    nonlocal failed
                    where = "the runner is running"
                    if not await _open_then_start(state, runner, runners, where):
                        failed = True
                        stop.set()

                runners.start_soon(open_then_start)
                await stop.wait()
                if state.starting:
                    runners.cancel_scope.cancel()
                else:
                    # Readiness goes red while the deliveries in flight finish.
                    state.draining = True
                    logger.info(
                        "draining: readiness is red until the deliveries in "
                        "flight finish",
                        extra={"action": "draining"},
                    )
                    runner.stop()

            if ops is not None:
                ops.should_exit = True
    finally:
        with anyio.CancelScope(shield=True):
            await kernel.close()

    if failed:
        return EXIT_FAILURE

    logger.info("stopped")
    return 0


async def _migrate(settings: Settings) -> int:
    try:
        kernel = _kernel_for(settings)
    except SettingsError as exc:
        logger.error("cannot open the storage: %s", exc)
        return EXIT_FAILURE

    try:
        await kernel.initialize(migrate=True)
    except StorageError as exc:
        logger.error("migration failed: %s", exc)
        return EXIT_FAILURE
    finally:
        await kernel.close()

    logger.info("schema of %s is up to date", redact_url(settings.storage))
    return 0
