"""Fixtures of the tuning tests: small experiments and a throw-away PostgreSQL server.

The PostgreSQL server is real: ``initdb`` + ``pg_ctl`` in a temporary folder, listening on a free
port of 127.0.0.1 only, trust authentication, stopped and deleted after the session. PostgreSQL
refuses to run as root, so under root it runs as the ``postgres`` user that Debian's package
creates (or ``nobody``). The tests that need it skip, saying why, only when the server programs
are not installed (``.ci/postgres.sh`` installs them).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lensfind.config import Experiment


def tiny_experiment(name: str = "tune-test", **tune) -> Experiment:
    """A small experiment with fast heartbeats (1 s) and a short grace period (3 s)."""
    settings = {"heartbeat_interval": 1, "grace_period": 3, "startup_trials": 2,
                "pruner": "none"}
    settings.update(tune)
    return Experiment().replace(experiment={"name": name}, tune=settings)


@pytest.fixture
def make_exp():
    """:func:`tiny_experiment` (a factory: ``make_exp("name", pruner="median")``)."""
    return tiny_experiment


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ourselves, or (as root) ``postgres`` / ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("running as root and neither a 'postgres' nor a 'nobody' account exists "
                "to run the PostgreSQL server as")


class PostgresServer:
    """initdb + pg_ctl on 127.0.0.1:<free port> in ``root``; :attr:`url` for SQLAlchemy."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = _free_port()
        self.user = _server_user()
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")

    def _run(self, *args: str, timeout: float = 60) -> None:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        subprocess.run(args, check=True, timeout=timeout, cwd=self.root, capture_output=True,
                       env={**os.environ, "LC_ALL": "C", "LANG": "C"}, **kwargs)

    def start(self) -> None:
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.root, 0o700)
        self._run(self.initdb, "-D", str(self.data), "-U", "lensfind", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=100")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start", timeout=90)

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.SubprocessError, OSError):
            pass

    @property
    def url(self) -> str:
        return f"postgresql://lensfind@127.0.0.1:{self.port}/postgres"  # the documented form


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server started for this test session (skips without the programs)."""
    if _pg_bin("initdb") is None or _pg_bin("pg_ctl") is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed: "
                    "run .ci/postgres.sh (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg 3 (the PostgreSQL driver of the postgres "
                        "extra) is not installed")
    root = Path(tempfile.mkdtemp(prefix="lensfind-pg-"))
    server = PostgresServer(root)
    try:
        server.start()
    except subprocess.CalledProcessError as err:
        log = server.log.read_text() if server.log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {err}\n{err.stderr!r}\n{log}") from err
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a true value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout, what=...)``: poll until true, fail after the timeout."""
    return _wait_for
