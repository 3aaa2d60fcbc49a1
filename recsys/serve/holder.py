"""The model being served, reloaded when its file changes on disk.

:class:`ModelHolder` keeps the current :class:`~recsys.serve.snapshot.Snapshot` in one
attribute. A watcher thread compares the file's signature (device, inode, size, modification
time) with the loaded one every ``interval`` seconds; when it differs, the thread loads and
checks the new file completely, builds a new snapshot, and only then assigns it, one reference
assignment (atomic in Python). A request reads :attr:`ModelHolder.current` once and answers
from that snapshot, so every request during a swap is answered whole, by the old model or by
the new one.

The same thread first builds the score table of the model loaded at start
(:meth:`~recsys.serve.snapshot.Snapshot.precompute`; requests score per request until it is
ready), and builds a reloaded model's table before swapping it in. After a load it collects
the garbage once and freezes the survivors out of the garbage collector's sight
(:func:`gc.freeze`), so that no full collection walks a model's objects while requests wait.

A new file that cannot be loaded (half-written, corrupt, not a model) leaves the old model in
place: the failure is logged once per version of the file and reported by ``/health``
(``reload_error``); the next change of the file is tried again. A file that disappears is
reported the same way.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from recsys.models.io import one_line
from recsys.serve.snapshot import FileSignature, Snapshot, iso_time

__all__ = ["ModelHolder", "LOGGER"]

LOGGER = logging.getLogger("recsys.serve")
"""Where reloads and failed reloads are reported (one line each)."""


def _settle() -> None:
    """Collect the garbage of a load (and the replaced model), then freeze what is left out
    of the cyclic garbage collector's sight: a loaded model is some 150,000 Python objects,
    and a full collection walking them all (50 to 350 ms) would stall whatever requests it
    interrupts. Requests' own short-lived objects are still collected as usual."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelHolder:
    """The served snapshot and its file watcher (see the module docstring).

    Parameters
    ----------
    snapshot : Snapshot
        The model loaded at start.
    interval : float
        Seconds between two looks at the file (0 or less: never reload).
    precompute : bool
        Build score tables (see :meth:`~recsys.serve.snapshot.Snapshot.precompute`).
    """

    def __init__(self, snapshot: Snapshot, interval: float = 1.0,
                 precompute: bool = True) -> None:
        self.current = snapshot
        self.interval = float(interval)
        self.precompute = bool(precompute)
        if not self.precompute:
            snapshot.table_state = "off"
        self.path = snapshot.path
        self.started_at = time.time()
        self.reloads = 0
        self.error: str | None = None
        self.error_at: float | None = None
        self._failed: FileSignature | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one check at a time (the thread, or a test's call)

    @classmethod
    def open(cls, path: str | os.PathLike, interval: float = 1.0,
             precompute: bool = True) -> "ModelHolder":
        """Load ``path`` (raising :class:`~recsys.errors.ModelFileError` if it is no sound
        model file) and hold it."""
        return cls(Snapshot.load(Path(path)), interval, precompute)

    # ------------------------------------------------------------------ watching
    def start(self) -> None:
        """Start the watcher thread (a daemon; nothing if it is running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="recsys-serve-reload",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread and wait for it (a load under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _watch(self) -> None:
        if self.precompute and self.current.table is None:
            try:
                self.current.precompute(self._stop.is_set)
            except Exception as exc:  # a model that cannot rank in batches: per request
                self.current.table_state = f"failed: {one_line(exc)}"
                LOGGER.warning("ranking every user of %s failed (%s); ranking per request",
                               self.path, one_line(exc))
        _settle()
        if self.interval <= 0:
            return
        while not self._stop.wait(self.interval):
            try:
                if self.check():
                    _settle()
            except Exception as exc:  # never let the watcher die: log, try again next time
                LOGGER.warning("checking %s failed: %s", self.path, one_line(exc))

    def check(self) -> bool:
        """Look at the file once; load and swap in a changed one. Returns True when a new
        model was swapped in."""
        with self._lock:
            try:
                signature = FileSignature.of(self.path)
            except OSError as exc:
                self._fail(None, f"the model file cannot be read ({exc.strerror or exc})")
                return False
            if signature == self.current.signature:
                self._clear()
                return False
            if signature == self._failed:
                return False
            try:
                snapshot = Snapshot.load(self.path)
                if self.precompute and not snapshot.precompute(self._stop.is_set):
                    if self._stop.is_set():
                        return False
            except Exception as exc:  # ModelFileError, OSError, or a bug: keep serving
                self._fail(signature, one_line(exc, 300))
                return False
            if not self.precompute:
                snapshot.table_state = "off"
            self.current = snapshot  # the swap: one reference assignment
            self.reloads += 1
            self._clear()
            LOGGER.info("reloaded %s: %s, %d users, %d items", self.path,
                        snapshot.model_class, snapshot.n_users, snapshot.n_items)
            return True

    def _fail(self, signature: FileSignature | None, message: str) -> None:
        if self.error == message and self._failed == signature:
            return
        self._failed = signature
        self.error = message
        self.error_at = time.time()
        LOGGER.warning("%s changed but was not reloaded, still serving the model loaded at %s: "
                       "%s", self.path, iso_time(self.current.loaded_at), message)

    def _clear(self) -> None:
        self._failed = None
        self.error = None
        self.error_at = None

    # ------------------------------------------------------------------ reporting
    def health(self) -> dict[str, Any]:
        """``GET /health``: the served model's facts, reloads, and the last failed reload."""
        snapshot = self.current
        return {
            "status": "ok",
            **snapshot.facts(),
            "reloads": self.reloads,
            "reload_interval": self.interval,
            "reload_error": self.error,
            "reload_error_at": None if self.error_at is None else iso_time(self.error_at),
            "started_at": iso_time(self.started_at),
        }
