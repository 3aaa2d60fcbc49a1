"""``recsys serve``: a fitted model behind an HTTP JSON API, and a page to try it.

The pieces, one job each:

* :mod:`recsys.serve.errors`: :class:`~recsys.serve.errors.RequestError`, a bad request as an
  HTTP status, a message and the field it concerns;
* :mod:`recsys.serve.snapshot`: a loaded model with what answering needs precomputed (item
  lists, title search, eligibility masks), and the answers themselves as plain dicts;
* :mod:`recsys.serve.holder`: the current snapshot, reloaded in the background when the model
  file changes on disk and swapped in by one reference assignment;
* :mod:`recsys.serve.app`: the FastAPI application (routes, JSON errors, the page);
* :mod:`recsys.serve.runner`: binding the socket and running uvicorn.

Only :mod:`~recsys.serve.app` and :mod:`~recsys.serve.runner` import FastAPI and uvicorn (the
optional extra ``recsys[serve]``); importing :mod:`recsys` or this package does not.
"""

from __future__ import annotations

INSTALL_HINT = 'pip install "recsys[serve]"'
"""How to get the optional dependencies of ``recsys serve``."""

__all__ = ["INSTALL_HINT"]
