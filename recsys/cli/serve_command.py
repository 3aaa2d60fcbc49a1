"""``recsys serve``: see the command's docstring."""

from __future__ import annotations

import click

from recsys.errors import RecsysError

_SERVER_MODULES = ("fastapi", "uvicorn", "starlette", "pydantic", "pydantic_core", "anyio",
                   "h11")


def _server_runner():
    """:func:`recsys.serve.runner.serve`, or one line naming the extra when FastAPI or
    uvicorn is missing."""
    from recsys.serve import INSTALL_HINT

    try:
        from recsys.serve.runner import serve
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "").split(".")[0]
        if missing in _SERVER_MODULES:
            raise RecsysError(f"recsys serve needs FastAPI and uvicorn ({missing} is not "
                              f"installed): {INSTALL_HINT}") from None
        raise
    return serve


@click.command()
@click.option("-m", "--model", "model_path", required=True, metavar="FILE",
              help="Model file to serve (from `recsys fit -o FILE`); reloaded when it changes.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, announced at start).")
@click.option("--reload-interval", type=click.FloatRange(0, 3600), default=1.0,
              show_default=True, metavar="SECONDS",
              help="How often to look for a new model file (0: never reload).")
@click.option("--precompute/--no-precompute", default=True, show_default=True,
              help="Rank every known user's best 1,024 items once at load (when the table "
                   "fits in 128 MB), so GET /recommend need not run the model; until it is "
                   "ready, requests run the model.")
def serve(model_path: str, host: str, port: int, reload_interval: float,
          precompute: bool) -> None:
    """Serve a model over HTTP: a JSON API and a page to try it.

    \b
    GET  /                     the page: search films, rate a few, see recommendations
    GET  /recommend?user=ID&n=10
    POST /recommend            {"ratings": {"Toy Story (1995)": 5, "2571": 4.5}, "n": 10}
    GET  /predict?user=ID&item=ID
    GET  /similar?item=ID-or-title&n=10
    GET  /items?search=matrix
    GET  /health
    GET  /docs                 the API's OpenAPI documentation (/openapi.json)

    The model file is reloaded when it changes on disk (write the new one to a temporary
    name and move it into place); a file that cannot be loaded leaves the current model
    serving. Needs the optional extra: pip install "recsys[serve]".
    """
    runner = _server_runner()
    runner(model_path, host, port, reload_interval=reload_interval, precompute=precompute,
           announce=lambda line: click.echo(line))


COMMANDS: list[click.Command] = [serve]
