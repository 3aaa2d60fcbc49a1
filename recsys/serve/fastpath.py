"""``GET /recommend`` from the rank table, answered before the framework sees the request.

The hot request of a recommender is a known user's list, which the
:class:`~recsys.serve.ranking.RankTable` answers in well under a tenth of a millisecond; what
remains is the framework's routing, request objects and middleware, about a third of the
server's time per request. :class:`FastRecommend` wraps the FastAPI application as plain ASGI:
a ``GET /recommend`` that the table can answer is read with the same parameter functions
(:func:`recsys.serve.query.recommend_params`) and answered with the same JSON (or the same
``{"error", "field"}`` refusal); everything else, including every request the table cannot
answer, goes to the application unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import QueryParams

from recsys.serve.errors import RequestError
from recsys.serve.holder import ModelHolder
from recsys.serve.query import recommend_params

__all__ = ["FastRecommend"]

_JSON = [(b"content-type", b"application/json")]


class FastRecommend:
    """An ASGI application: ``app`` with ``GET /recommend`` answered from ``holder``'s rank
    table when it can be (see the module docstring)."""

    def __init__(self, app: Any, holder: ModelHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/recommend" \
                and scope["method"] == "GET":
            snapshot = self.holder.current
            if snapshot.table is not None:
                try:
                    user, n, min_ratings, include_seen, rank_by = recommend_params(
                        QueryParams(scope["query_string"]))
                    if include_seen or rank_by not in (None, snapshot.rank_by):
                        raise LookupError  # not in the table: the application answers
                    status = 200
                    body = snapshot.recommend_user_json(user, n, min_ratings, False, rank_by)
                except RequestError as exc:
                    status = exc.status
                    body = json.dumps(exc.body(), ensure_ascii=False).encode()
                except Exception:  # anything else: the application answers (and logs)
                    await self.app(scope, receive, send)
                    return
                await send({"type": "http.response.start", "status": status,
                            "headers": _JSON + [(b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
