"""Running the server: load the model, bind the socket, hand both to uvicorn.

The socket is bound here, before uvicorn starts, so that a port in use (or a host that does
not resolve) is one clear :class:`~recsys.errors.RecsysError` line, and so that port 0 (any
free port) can be announced with the port the system chose. uvicorn handles SIGINT and SIGTERM
itself: it stops accepting, lets requests under way finish (3 s at most) and returns; the
command then ends normally.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any, Callable

import uvicorn

from recsys.errors import RecsysError
from recsys.serve.app import create_app
from recsys.serve.holder import LOGGER, ModelHolder

__all__ = ["bind", "serve"]


class _Server(uvicorn.Server):
    """uvicorn's server, except that a stop asked by SIGINT or SIGTERM ends the command
    normally (exit 0): uvicorn raises the signal again once shut down, which Python would
    turn into a ``KeyboardInterrupt`` (or death by SIGTERM) after a clean stop."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises
    ------
    RecsysError
        The host does not resolve, or the address cannot be bound (in use, not local, or a
        privileged port).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise RecsysError(f"cannot listen on {host}: the host name does not resolve "
                          f"({exc.strerror}); give an address such as 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not over a live listener
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        hint = {98: "another program listens there; choose another --port (or stop it)",
                13: "ports below 1024 need privileges; choose a --port above 1023",
                99: "that address is not on this machine; use 127.0.0.1"}.get(exc.errno, "")
        raise RecsysError(f"cannot listen on {host}:{port}: {reason}"
                          + (f"; {hint}" if hint else "")) from None
    sock.set_inheritable(True)
    return sock


def _log_to_stderr() -> None:
    """Reload lines on stderr, prefixed ``recsys serve:``."""
    if not LOGGER.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("recsys serve: %(message)s"))
        LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def serve(path: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000, *,
          reload_interval: float = 1.0, precompute: bool = True,
          announce: Callable[[str], None] = print) -> None:
    """Serve the model file ``path`` on ``host:port`` until interrupted.

    The model is loaded and checked first (a bad file raises
    :class:`~recsys.errors.ModelFileError`), then the socket is bound (:func:`bind`); then
    ``announce`` gets one line with the address, and uvicorn runs.
    """
    holder = ModelHolder.open(path, reload_interval, precompute)
    sock = bind(host, port)
    try:
        _log_to_stderr()
        config = uvicorn.Config(create_app(holder), log_level="warning", access_log=False,
                                lifespan="on", timeout_graceful_shutdown=3,
                                server_header=False)
        bound = sock.getsockname()
        shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
        snapshot = holder.current
        announce(f"serving {snapshot.model_class} ({snapshot.n_users:,} users, "
                 f"{snapshot.n_items:,} items) from {path} on http://{shown}:{bound[1]}/ "
                 "(API docs at /docs; Ctrl-C stops)")
        _Server(config).run(sockets=[sock])
        announce("stopped")
    finally:
        sock.close()
        holder.stop()
