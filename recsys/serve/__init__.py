"""``recsys serve``: a fitted model behind an HTTP JSON API, and a page to try it.

The pieces, one job each:

* :mod:`recsys.serve.errors`: :class:`~recsys.serve.errors.RequestError`, a bad request as an
  HTTP status, a message and the field it concerns;
* :mod:`recsys.serve.body` and :mod:`recsys.serve.query`: the request limits, the JSON body
  of ``POST /recommend`` and the query parameters, read without trusting them;
* :mod:`recsys.serve.snapshot`: a loaded model with what answering needs precomputed (item
  lists and their JSON, title search, id maps), and the answers themselves;
* :mod:`recsys.serve.ranking`: every known user's list ranked once at load (the rank table);
* :mod:`recsys.serve.holder`: the current snapshot, reloaded in the background when the model
  file changes on disk and swapped in by one reference assignment;
* :mod:`recsys.serve.app`: the FastAPI application (routes, JSON errors, the page, the docs);
* :mod:`recsys.serve.fastpath`: ``GET /recommend`` from the rank table, ahead of FastAPI;
* :mod:`recsys.serve.runner`: binding the socket and running uvicorn;
* ``static/``: the page (HTML, JavaScript and CSS; no build step).

Only :mod:`~recsys.serve.app`, :mod:`~recsys.serve.fastpath` and :mod:`~recsys.serve.runner`
import FastAPI, Starlette and uvicorn (the optional extra ``recsys[serve]``); importing
:mod:`recsys` or this package does not.
"""

from __future__ import annotations

INSTALL_HINT = 'pip install "recsys[serve]"'
"""How to get the optional dependencies of ``recsys serve``."""

__all__ = ["INSTALL_HINT"]
