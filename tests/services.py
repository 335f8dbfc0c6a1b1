"""Real PostgreSQL and Redis servers for tests, started once a session on free loopback ports;
and reading back what a server process stored.

`make services-deps` (run by `make test`) apt-installs Debian's `postgresql` and `redis-server`
when missing; without them the tests that ask for these fixtures skip, saying so.

PostgreSQL refuses to run as root: as root (CI) the throwaway cluster belongs to and runs as the
`postgres` user the Debian package creates; otherwise as the current user. Its settings are the
defaults (fsync, synchronous commit), so what a crash test sees is what production would.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Row, select

from app.storage.database import database_url, make_engine
from tests.server import free_port, supervised

SUPERUSER = "aurora"
DATABASE = "aurora"
# Not UTC, as a shop's server in Japan would be: times must come back right whatever the zone.
TIMEZONE = "Asia/Tokyo"
START_TIMEOUT_S = 60
# For servers run in tests (`tests.server.serve`): requests as fast as a test can send them.
NO_RATE_LIMITS = {"AURORA_RATE_LIMIT_SEARCH": "", "AURORA_RATE_LIMIT_SUGGEST": "", "AURORA_RATE_LIMIT_FEEDBACK": ""}


def postgres_bin() -> Path | None:
    """The newest `/usr/lib/postgresql/<major>/bin` with initdb, or None."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()]
    return max(found, key=lambda p: int(p.parent.name), default=None) if found else None


class PostgresServer:
    """A PostgreSQL cluster of its own in a temporary directory, with a superuser `aurora` on
    loopback trust authentication."""

    def __init__(self, bin_dir: Path, root: Path, owner: str | None) -> None:
        self.bin_dir = bin_dir
        self.root = root  # data/, the log and the socket
        self.owner = owner  # the user it runs as; None: this process's
        self.port = free_port()

    def _run(self, program: str, *args: str) -> None:
        argv = [str(self.bin_dir / program), *args]
        if self.owner is not None:
            argv = ["runuser", "-u", self.owner, "--", *argv]
        done = subprocess.run(argv, cwd=self.root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}{tail}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-instructions")
        self.start()
        self.create_database(DATABASE)

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   f"-c timezone={TIMEZONE}")
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "postgres.log"), "-w",
                  "-t", str(START_TIMEOUT_S), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`mode` "immediate" is a crash: no checkpoint, recovery from the WAL at the next start."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: sql.Composable) -> None:
        # CREATE and DROP DATABASE cannot run inside a transaction.
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self, name: str) -> None:
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        # FORCE: the sessions of a client that was killed may linger.
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _postgres_owner() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        pytest.skip("running as root, and PostgreSQL refuses root: no `postgres` user to run it as "
                    "(apt-get install postgresql creates one)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the session; skips when PostgreSQL is not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL not installed (/usr/lib/postgresql/*/bin/initdb; apt-get install postgresql, "
                    "or `make services-deps` as root)")
    owner = _postgres_owner()
    # Not pytest's tmp_path: its parents are private to this user, and the cluster's owner may differ.
    root = Path(tempfile.mkdtemp(prefix="aurora-pg-"))
    if owner is not None:
        shutil.chown(root, owner)
    server = PostgresServer(bin_dir, root, owner)
    try:
        server.init()
        yield server
    finally:
        if (root / "data" / "postmaster.pid").exists():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """An SQLAlchemy URL (psycopg 3) of the session cluster's `aurora` database, shared by its tests."""
    return postgres_server.url()


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """An SQLAlchemy URL of an empty database of the test's own on the session cluster, dropped after."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis://127.0.0.1:<port>/0` of a redis-server for the session, keeping nothing on disk;
    skips when redis-server is not installed."""
    program = shutil.which("redis-server")
    if program is None:
        pytest.skip("redis-server not installed (apt-get install redis-server, or `make services-deps` as root)")
    root = tmp_path_factory.mktemp("redis")
    port = free_port()
    argv = [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(root)]
    with open(root / "redis.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    with supervised(process, lambda: _redis_answers(port), root / "redis.log", "redis-server", START_TIMEOUT_S):
        yield f"redis://127.0.0.1:{port}/0"


# -- what a server process stored, read from outside it --------------------------------------


def stored_rows(model: Any, url: str | None, data_dir: Path) -> list[Row[Any]]:
    """Every row of `model`'s table in the database a server was given (`url`, or None: SQLite
    in `data_dir`), read through an engine of our own, as a restarted service would."""
    engine = make_engine(database_url(url, data_dir))
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(model)))
    finally:
        engine.dispose()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)
