"""A throwaway one-node Apache Cassandra on the loopback address.

For tests and benchmarks. :class:`CassandraNode` runs the release
:data:`CASSANDRA_VERSION` of ``org.apache.cassandra:cassandra-all`` from
Maven Central: :func:`ensure_cassandra_jars` has Maven copy the jar and its
dependencies into a cache folder once (``~/.cache/timerbackends`` unless
``TIMERBACKENDS_CACHE`` says otherwise), and the node runs them with the
machine's Java 11 or 17 as ``org.apache.cassandra.service.CassandraDaemon``,
with a small heap, on free ports of ``127.0.0.1``.

The node is tuned to start fast and to be thrown away: one token, no
waiting for gossip, no snapshots before a truncate or a drop, the commit
log synced every 10 seconds. Never keep data on it that matters.

From a shell, ``python -m timerbackends.testing.cassandra DIRECTORY``
starts one, prints its storage URL and runs until interrupted (Ctrl-C).

Every wait here has a deadline, and only the loopback address is used.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from ._process import LOOPBACK, LocalServer, free_port, run_in_foreground

__all__ = [
    "CASSANDRA_VERSION",
    "LOOPBACK",
    "CassandraNode",
    "CassandraNotFound",
    "cql_ready",
    "ensure_cassandra_jars",
    "find_java",
]

#: The release run: 5.0 is the first to support Java 17.
CASSANDRA_VERSION = "5.0.9"

START_TIMEOUT = 240.0
FETCH_TIMEOUT = 900.0

#: Heap of the node: enough for the tests' few tables and small writes.
HEAP = "768m"

# What the daemon needs from the module system on Java 11 and later: the
# packages it reaches into for off-heap memory, JMX and the native layer.
_JAVA_MODULE_FLAGS = [
    "-Djdk.attach.allowAttachSelf=true",
    *(
        f"--add-exports={package}=ALL-UNNAMED"
        for package in (
            "java.base/jdk.internal.misc",
            "java.base/jdk.internal.ref",
            "java.base/sun.nio.ch",
            "java.base/java.lang.ref",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "jdk.unsupported/sun.misc",
        )
    ),
    *(
        f"--add-opens={package}=ALL-UNNAMED"
        for package in (
            "java.base/java.lang",
            "java.base/java.lang.module",
            "java.base/java.lang.reflect",
            "java.base/java.io",
            "java.base/java.nio",
            "java.base/java.util",
            "java.base/java.util.concurrent",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.util.jar",
            "java.base/sun.nio.ch",
            "jdk.management/com.sun.management.internal",
        )
    ),
]

_SUPPORTED_JAVA = (11, 17)


class CassandraNotFound(RuntimeError):
    """Java, Maven or the Cassandra jars are missing and cannot be had."""


# -- Java and the jars ---------------------------------------------------------


def _java_major(java: Path) -> int | None:
    try:
        answer = subprocess.run(
            [str(java), "-version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None

    # 'openjdk version "17.0.15" 2025-04-15', or "1.8.0_392" for Java 8.
    found = re.search(r'version "(\d+)(?:\.(\d+))?', answer.stderr)
    if found is None:
        return None

    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java() -> Path | None:
    """Return a ``java`` of a version Cassandra 5.0 runs on (11 or 17).

    Looks at ``JAVA_HOME``, then ``/usr/lib/jvm/*`` (newest supported
    first), then ``PATH``.
    """
    candidates: list[Path] = []
    home = os.environ.get("JAVA_HOME")
    if home:
        candidates.append(Path(home) / "bin" / "java")

    candidates.extend(sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True))
    on_path = shutil.which("java")
    if on_path is not None:
        candidates.append(Path(on_path).resolve())

    for candidate in candidates:
        if os.access(candidate, os.X_OK) and _java_major(candidate) in _SUPPORTED_JAVA:
            return candidate

    return None


def _cache_root() -> Path:
    configured = os.environ.get("TIMERBACKENDS_CACHE")
    if configured:
        return Path(configured)

    return Path.home() / ".cache" / "timerbackends"


_POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>timerbackends.testing</groupId>
  <artifactId>cassandra-node</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def ensure_cassandra_jars(
    version: str = CASSANDRA_VERSION, *, cache: Path | None = None
) -> Path:
    """Return a folder holding ``cassandra-all`` and its dependencies.

    The first call has Maven (``mvn``) resolve them from Maven Central and
    copy them into ``<cache>/cassandra-<version>/lib``; later calls find
    them there.

    :raises CassandraNotFound: if Maven is missing or the fetch fails.
    """
    folder = (cache or _cache_root()) / f"cassandra-{version}"
    lib = folder / "lib"
    complete = folder / "complete"
    if complete.exists():
        return lib

    maven = shutil.which("mvn")
    if maven is None:
        raise CassandraNotFound(
            "Maven (mvn) is needed to fetch org.apache.cassandra:cassandra-all "
            "from Maven Central; install it (Debian: apt-get install maven)"
        )

    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(lib, ignore_errors=True)
    pom = folder / "pom.xml"
    pom.write_text(_POM.format(version=version))
    command = [
        maven,
        "--batch-mode",
        "--quiet",
        "--file",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}",
        "-DincludeScope=runtime",
    ]
    try:
        subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT,
            check=True,
            cwd=folder,
        )
    except subprocess.CalledProcessError as exc:
        raise CassandraNotFound(
            f"fetching cassandra-all {version} with Maven failed with exit code "
            f"{exc.returncode}:\n{exc.stdout[-3000:]}{exc.stderr[-2000:]}"
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CassandraNotFound(f"fetching cassandra-all failed: {exc}") from None

    if not (lib / f"cassandra-all-{version}.jar").exists():
        raise CassandraNotFound(f"Maven did not copy cassandra-all-{version}.jar")

    complete.write_text(f"{version}\n")
    return lib


# -- readiness ----------------------------------------------------------------

# A native-protocol v4 frame: version, flags, stream id, opcode, body length.
_HEADER = struct.Struct("!BBhBI")
_OPTIONS = 0x05
_SUPPORTED = 0x06


def cql_ready(port: int, *, timeout: float = 2.0) -> bool:
    """Say whether a node answers the native protocol on ``127.0.0.1:port``.

    Sends one OPTIONS request and waits for SUPPORTED, which the node sends
    only once it takes CQL clients; needs no driver.
    """
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(_HEADER.pack(0x04, 0, 0, _OPTIONS, 0))
            header = b""
            while len(header) < _HEADER.size:
                chunk = sock.recv(_HEADER.size - len(header))
                if not chunk:
                    return False

                header += chunk
    except OSError:
        return False

    return bool(_HEADER.unpack(header)[3] == _SUPPORTED)


# -- the node -------------------------------------------------------------------


class CassandraNode(LocalServer):
    """A one-node Cassandra cluster of its own, for tests and benchmarks.

    The first :meth:`start` writes ``directory/conf`` and keeps the data in
    ``directory/data``; later starts reuse both and the ports, so a test can
    stop the node and start it again to simulate an outage. The node's log
    is ``directory/cassandra.log``. Use it as a context manager, or call
    :meth:`destroy`: a node still running when the interpreter exits is
    killed then.

    :param directory: where the configuration, data and log are kept.
    :param port: the native protocol (CQL) port; a free one by default.
    :param heap: the JVM heap, as ``-Xmx`` takes it.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, heap: str = HEAP
    ) -> None:
        super().__init__(directory, "Cassandra")
        self.port = port
        self.heap = heap
        self._storage_port: int | None = None

    def url_for(self, keyspace: str) -> str:
        """Return the storage URL of *keyspace* on this node."""
        if self.port is None:
            raise RuntimeError("the node has not been started yet")

        return f"cassandra://{LOOPBACK}:{self.port}/{keyspace}"

    def start(self, *, timeout: float = START_TIMEOUT) -> Self:
        """Start the node (fetching the jars the first time) and wait for CQL.

        Does nothing if it is running already. Writes acknowledged before a
        :meth:`stop` are in the commit log, which the next start replays.

        :raises CassandraNotFound: if Java, Maven or the jars cannot be had.
        :raises RuntimeError: if the node exits or is not ready in time; the
            message ends with the node's log.
        """
        if self.running:
            return self

        java = find_java()
        if java is None:
            raise CassandraNotFound(
                "Cassandra 5.0 needs Java 11 or 17; none was found in JAVA_HOME, "
                "/usr/lib/jvm or PATH (Debian: apt-get install openjdk-17-jre-headless)"
            )

        lib = ensure_cassandra_jars()
        self.port = self.port or free_port()
        self._storage_port = self._storage_port or free_port()
        conf = self.directory / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "cassandra.yaml").write_text(self._configuration())
        (conf / "logback.xml").write_text(_LOGBACK)
        self._spawn([str(java), *self._jvm_options(conf), "-cp", f"{lib}/*", _DAEMON])
        port = self.port
        self._wait_until(lambda: cql_ready(port), timeout)
        return self

    def restart(self, *, timeout: float = START_TIMEOUT) -> Self:
        """Stop the node and start it again on the same data and ports."""
        self.stop()
        return self.start(timeout=timeout)

    def destroy(self) -> None:
        """Stop the node and remove its directory, data and log included."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- the steps ------------------------------------------------------------

    def _configuration(self) -> str:
        data = self.directory / "data"
        return textwrap.dedent(
            f"""\
            cluster_name: timerbackends-test
            num_tokens: 1
            initial_token: 0
            partitioner: org.apache.cassandra.dht.Murmur3Partitioner
            endpoint_snitch: SimpleSnitch
            seed_provider:
              - class_name: org.apache.cassandra.locator.SimpleSeedProvider
                parameters:
                  - seeds: "{LOOPBACK}:{self._storage_port}"
            listen_address: {LOOPBACK}
            rpc_address: {LOOPBACK}
            storage_port: {self._storage_port}
            native_transport_port: {self.port}
            start_native_transport: true
            data_file_directories:
              - {data / "data"}
            commitlog_directory: {data / "commitlog"}
            saved_caches_directory: {data / "saved_caches"}
            hints_directory: {data / "hints"}
            cdc_raw_directory: {data / "cdc_raw"}
            commitlog_sync: periodic
            commitlog_sync_period: 10000ms
            authenticator: AllowAllAuthenticator
            authorizer: AllowAllAuthorizer
            role_manager: CassandraRoleManager
            auto_snapshot: false
            snapshot_before_compaction: false
            concurrent_reads: 8
            concurrent_writes: 8
            concurrent_counter_writes: 8
            memtable_heap_space: 64MiB
            memtable_offheap_space: 64MiB
            key_cache_size: 8MiB
            counter_cache_size: 4MiB
            read_request_timeout: 10000ms
            write_request_timeout: 10000ms
            cas_contention_timeout: 5000ms
            range_request_timeout: 20000ms
            truncate_request_timeout: 60000ms
            request_timeout: 20000ms
            tombstone_warn_threshold: 100000
            tombstone_failure_threshold: 1000000
            dynamic_snitch: false
            # A new cluster, never to be read by Cassandra 4: the 5.0
            # formats, which SSTables written offline also have.
            storage_compatibility_mode: NONE
            """
        )

    def _jvm_options(self, conf: Path) -> list[str]:
        return [
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-Xss512k",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=300",
            "-XX:+UseStringDeduplication",
            "-XX:ActiveProcessorCount=2",
            "-XX:-UsePerfData",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
            f"-Dlogback.configurationFile=file://{conf / 'logback.xml'}",
            f"-Dcassandra.logdir={self.directory}",
            f"-Dcassandra.storagedir={self.directory / 'data'}",
            "-Dcassandra-foreground=yes",
            # One node: nothing to wait for or to bootstrap from.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.ring_delay_ms=0",
            "-Dcassandra.load_ring_state=false",
            "-Dcassandra.join_ring=true",
            "-Dcassandra.native_transport_startup_delay_seconds=0",
            "-Dio.netty.tryReflectionSetAccessible=true",
            *_JAVA_MODULE_FLAGS,
        ]


_DAEMON = "org.apache.cassandra.service.CassandraDaemon"

# Warnings and errors to the standard output, which the node writes to its
# log file; Cassandra's own configuration keeps debug logs of its own.
_LOGBACK = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%date{ISO8601} %-5level [%thread] %logger{0} %msg%n</pattern>
    </encoder>
  </appender>
  <logger name="org.apache.cassandra.service.StorageService" level="INFO"/>
  <logger name="org.apache.cassandra.transport.Server" level="INFO"/>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Start a throwaway node, print its URL and run until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m timerbackends.testing.cassandra",
        description="Start a throwaway one-node Cassandra on 127.0.0.1 for "
        "development; its data is kept in DIRECTORY for the next start.",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--keyspace", default="timers")
    arguments = parser.parse_args(argv)

    node = CassandraNode(arguments.directory, port=arguments.port)
    return run_in_foreground(node, lambda: node.url_for(arguments.keyspace))


if __name__ == "__main__":
    sys.exit(main())
