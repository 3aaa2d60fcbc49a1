"""The FastAPI application: routes, JSON errors, and the page.

Routes (OpenAPI schema at ``/openapi.json``, Swagger UI at ``/docs``):

``GET /recommend?user=&n=&min_ratings=&include_seen=``
    Top-N for a user the model was trained on.
``POST /recommend``
    Top-N for a new user from ``{"ratings": {"<item id or title>": rating}, "n": 10}``
    (the model's fold-in).
``GET /predict?user=&item=``
    One predicted rating.
``GET /similar?item=&n=&min_ratings=``
    Nearest items (item id or title, as ``recsys similar``).
``GET /items?search=&limit=``
    Title search: ids, titles, years, rating counts.
``GET /health``
    The served model (class, file, load time, counts, rating scale), reloads and errors.
``GET /``
    The page to try it (:mod:`recsys.serve.static`).

Every refusal is JSON ``{"error": "...", "field": "..."}`` with a 4xx status: a
:class:`~recsys.serve.errors.RequestError`, FastAPI's own validation of the query parameters
(rewritten to that shape), an unknown path or method. Anything else is a bug: answered 500
with the same shape and no traceback (the traceback goes to the server's log).
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys._version import __version__
from recsys.models.topn import RANK_BY
from recsys.serve.body import (DEFAULT_MIN_RATINGS, DEFAULT_N, MAX_BODY_BYTES, MAX_N,
                               MAX_SEARCH, parse_new_user)
from recsys.serve import query
from recsys.serve.fastpath import FastRecommend
from recsys.serve.errors import BAD_REQUEST, TOO_LARGE, UNPROCESSABLE, RequestError
from recsys.serve.holder import LOGGER, ModelHolder

__all__ = ["create_app"]

STATIC = Path(__file__).resolve().parent / "static"
_PAGE_FILES = {"app.js": "text/javascript; charset=utf-8",
               "style.css": "text/css; charset=utf-8"}
_JSON = "application/json"

_NEW_USER_SCHEMA = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["ratings"],
        "additionalProperties": False,
        "properties": {
            "ratings": {"type": "object", "additionalProperties": {"type": "number"},
                        "description": "The new user's ratings: item id or title -> rating "
                                       "(within the model's rating scale, see /health)."},
            "n": {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": DEFAULT_N},
            "min_ratings": {"type": "integer", "minimum": 1,
                            "default": DEFAULT_MIN_RATINGS},
            "rank_by": {"type": "string", "enum": list(RANK_BY),
                        "description": "Ranking objective (default: the model's, see "
                                       "/health)."},
        },
        "example": {"ratings": {"Toy Story (1995)": 5, "2571": 4.5, "Heat": 4}, "n": 10},
    }}},
}


def _error(status: int, message: str, field: str | None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _validation_message(error: dict[str, Any]) -> tuple[str, str | None]:
    """One line and the field for the first of FastAPI's validation errors (the routes read
    their parameters themselves, :mod:`recsys.serve.query`; this is a safety net)."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("query", "body", "path")]
    field = loc[0] if loc else None
    if error.get("type") == "missing":
        return f"{field or 'a field'} is missing", field
    return f"{field or 'the request'}: {error.get('msg', 'invalid value')}", field


def create_app(holder: ModelHolder) -> FastRecommend:
    """The ASGI application serving ``holder``'s model: :func:`api`, with ``GET /recommend``
    answered from the rank table in front of it (:mod:`recsys.serve.fastpath`)."""
    return FastRecommend(api(holder), holder)


def api(holder: ModelHolder) -> FastAPI:
    """The FastAPI application serving ``holder``'s model; its lifespan starts and stops
    the holder's watcher thread (reloads, rank table)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder.start()
        try:
            yield
        finally:
            await run_in_threadpool(holder.stop)

    app = FastAPI(title="recsys", version=__version__, lifespan=lifespan, redoc_url=None,
                  docs_url=None,
                  description="Recommendations from a fitted recsys model. Errors are "
                              '`{"error": "...", "field": "..."}` with a 4xx status.')
    _add_error_handlers(app)
    _add_api(app, holder)
    _add_page(app)
    _add_docs(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message, field = _validation_message(errors[0] if errors else {})
        return _error(UNPROCESSABLE, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no such path {request.url.path!r}: see /docs for the API"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}: see /docs"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, None)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        LOGGER.error("internal error answering %s %s", request.method, request.url.path,
                     exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the "
                      "details", None)


async def _read_body(request: Request) -> bytes:
    """The request body, refused (413) past :data:`MAX_BODY_BYTES` before it is parsed: by
    its declared length, or while it streams in."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(BAD_REQUEST, "the Content-Length header is not a number", "body")
        if int(declared) > MAX_BODY_BYTES:
            raise RequestError(TOO_LARGE, f"the body is {int(declared):,} bytes, over the "
                               f"limit of {MAX_BODY_BYTES:,}", "body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestError(TOO_LARGE, f"the body is over the limit of {MAX_BODY_BYTES:,} "
                               "bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(answer: Any) -> Response:
    return Response(json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode(),
                    media_type=_JSON)


def _params(*specs: Mapping[str, Any]) -> dict[str, Any]:
    return {"parameters": list(specs)}


_USER = query.spec("user", "string", "A user id the model was trained on.", required=True)
_N = query.spec("n", "integer", f"Number of items (1-{MAX_N}).", default=DEFAULT_N, low=1,
                high=MAX_N)
_RANK = query.spec("rank_by", "string", "Ranking objective: the predicted rating, or the "
                   "relevance (how likely the user is to rate and like the item); default: "
                   "the model's (see /health).", allowed=RANK_BY)
_MIN = query.spec("min_ratings", "integer", "List only items with at least this many training "
                  "ratings.", default=DEFAULT_MIN_RATINGS, low=1, high=query.MAX_MIN_RATINGS)


def _add_api(app: FastAPI, holder: ModelHolder) -> None:
    @app.get("/recommend", tags=["recommend"], openapi_extra=_params(
        _USER, _N, _MIN, _RANK, query.spec("include_seen", "boolean", "Also list the items "
                                           "the user rated in training.", default=False)))
    async def recommend(request: Request) -> Response:
        """Top-N items for a known user (ranked by `rank_by`, default: the model's), with
        each item's predicted rating."""
        user, n, min_ratings, include_seen, rank_by = query.recommend_params(
            request.query_params)
        snapshot = holder.current
        return Response(await run_in_threadpool(snapshot.recommend_user_json, user, n,
                                                min_ratings, include_seen, rank_by),
                        media_type=_JSON)

    @app.post("/recommend", tags=["recommend"], openapi_extra={"requestBody": _NEW_USER_SCHEMA})
    async def recommend_new(request: Request) -> Response:
        """Top-N items for a new user from a few ratings, folded into the model (no refit):
        `{"ratings": {"<item id or title>": rating, ...}, "n": 10}`."""
        new = parse_new_user(await _read_body(request))
        snapshot = holder.current
        return _json(await run_in_threadpool(snapshot.recommend_new, new.ratings, new.n,
                                             new.min_ratings, new.rank_by))

    @app.get("/predict", tags=["recommend"], openapi_extra=_params(
        _USER, query.spec("item", "string", "An item id or title.", required=True)))
    async def predict(request: Request) -> Response:
        """The predicted rating of a known user for one item."""
        params = request.query_params
        user, item = query.text(params, "user"), query.text(params, "item")
        snapshot = holder.current
        return _json(await run_in_threadpool(snapshot.predict, user, item))

    @app.get("/similar", tags=["items"], openapi_extra=_params(
        query.spec("item", "string", "An item id or (part of) a title.", required=True),
        _N, _MIN))
    async def similar(request: Request) -> Response:
        """The items nearest to one item (cosine of the item factors, or the neighbourhood
        model's learned similarities)."""
        params = request.query_params
        item = query.text(params, "item")
        n = query.count(params, "n", DEFAULT_N, 1, MAX_N)
        min_ratings = query.count(params, "min_ratings", DEFAULT_MIN_RATINGS, 1,
                                  query.MAX_MIN_RATINGS)
        snapshot = holder.current
        return _json(await run_in_threadpool(snapshot.similar, item, n, min_ratings))

    @app.get("/items", tags=["items"], openapi_extra=_params(
        query.spec("search", "string", "Part of a title (empty: the most rated)."),
        query.spec("limit", "integer", f"Most items listed (1-{MAX_SEARCH}).", default=20,
                   low=1, high=MAX_SEARCH)))
    async def items(request: Request) -> Response:
        """Items whose title contains the search text, titles starting with it first, then
        the most rated: id, title, year, genres and number of training ratings."""
        params = request.query_params
        search = query.text(params, "search", required=False)
        limit = query.count(params, "limit", 20, 1, MAX_SEARCH)
        snapshot = holder.current
        return _json(await run_in_threadpool(snapshot.search, search, limit))

    @app.get("/health", tags=["server"])
    async def health() -> Response:
        """The served model: class, file, when it was loaded, counts, rating scale, whether
        it folds in new users and lists similar items; reloads and the last failed one."""
        return _json(holder.health())


_DOCS_FALLBACK = b"""<script>
if (typeof SwaggerUIBundle === "undefined") {
  document.getElementById("swagger-ui").innerHTML = '<p style="font:16px sans-serif;' +
    'margin:2em">The documentation viewer (Swagger UI) loads from cdn.jsdelivr.net, which ' +
    'this browser cannot reach. The API description itself is at ' +
    '<a href="/openapi.json">/openapi.json</a>.</p>';
}
</script>
</body>"""


def _add_docs(app: FastAPI) -> None:
    """``/docs``: FastAPI's Swagger UI page, its script and style served from the
    ``fastapi-offline`` package (part of the ``serve`` extra), so that it works offline;
    without that package they come from a CDN, and the page says where the API description
    is when the CDN cannot be reached."""
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = _swagger_assets()
    urls = {"swagger_js_url": "/docs/swagger-ui-bundle.js",
            "swagger_css_url": "/docs/swagger-ui.css"} if assets else {}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="recsys API", **urls)
        return HTMLResponse(bytes(page.body).replace(b"</body>", _DOCS_FALLBACK, 1))

    @app.get("/docs/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in assets:
            raise RequestError(404, f"no such file {name!r}", "name")
        body, media_type = assets[name]
        return Response(body, media_type=media_type,
                        headers={"Cache-Control": "max-age=86400"})


def _swagger_assets() -> dict[str, tuple[bytes, str]]:
    """Swagger UI's script and style as the ``fastapi-offline`` package ships them (a Swagger
    UI that reads OpenAPI 3.1, FastAPI's schema version); {} without that package."""
    from importlib import resources

    try:
        folder = resources.files("fastapi_offline") / "static"
        files = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
        return {name: ((folder / name).read_bytes(), kind) for name, kind in files.items()}
    except (ImportError, OSError):
        return {}


def _add_page(app: FastAPI) -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    assets = {name: (STATIC / name).read_bytes() for name in _PAGE_FILES}

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in assets:
            raise RequestError(404, f"no such file {name!r}", "name")
        return Response(assets[name], media_type=_PAGE_FILES[name],
                        headers={"Cache-Control": "no-cache"})
