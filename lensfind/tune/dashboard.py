"""``lensfind dashboard``: optuna-dashboard on a study database, bound to the loopback address.

``lensfind dashboard experiments/tune-dropout.toml`` serves the experiment's default study
database (``runs/<name>/tune/study.db``); ``--storage URL`` serves any database (PostgreSQL for a
study shared by several machines). It prints the URL, e.g. ``http://127.0.0.1:8080/dashboard``,
and runs until Ctrl-C. ``--port 0`` takes a free port (the printed URL says which).
"""
from __future__ import annotations

import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lensfind.config import load_experiment
from lensfind.tune.storage import check_storage_url, sqlite_path, storage_url, unreachable


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


def make_dashboard_server(storage_url: str, *, host: str = "127.0.0.1", port: int = 8080):
    """A WSGI server running optuna-dashboard on ``storage_url`` (not yet serving)."""
    from optuna.exceptions import StorageInternalError
    from optuna_dashboard import wsgi

    check_storage_url(storage_url)
    path = sqlite_path(storage_url)
    if path is not None and not path.exists():
        raise FileNotFoundError(f"no study database {path}: run `lensfind tune` first "
                                "or pass --storage URL")
    with unreachable(storage_url, StorageInternalError):
        app = wsgi(storage_url)
    return make_server(host, port, app, server_class=_ThreadedServer,
                       handler_class=_QuietHandler)


def serve(storage_url: str, *, host: str = "127.0.0.1", port: int = 8080, stream=None) -> None:
    """Serve the dashboard until interrupted; prints the URL first."""
    server = make_dashboard_server(storage_url, host=host, port=port)
    url = f"http://{host}:{server.server_port}/dashboard"
    print(f"Optuna dashboard for {storage_url}\n  {url}\n(Ctrl-C stops it)",
          file=stream or sys.stdout, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def study_database(experiment: str | Path, runs_dir: str | Path = "runs", *,
                   small: bool = False) -> str:
    """The default storage URL of an experiment file (what ``make dashboard`` serves)."""
    return storage_url(load_experiment(experiment, small=small), None, runs_dir)
