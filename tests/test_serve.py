"""`recsys serve`: the real server (``python -m recsys serve`` on a free 127.0.0.1 port, stopped
by its pid) on models fitted here, talked to with httpx.

Every endpoint against the library's own answers; every kind of bad request (a 4xx with a
JSON error naming the field, never a 500 or a traceback); the model file replaced under load
(every request answered, by the old model or the new) and replaced by a broken file (the old
model keeps serving); the command's own errors (a bad model file, a port in use, the serve
extra missing) as one line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from _cli import assert_one_clean_error, run

from recsys.models.io import load_model

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0


class Server:
    """A running ``recsys serve`` subprocess: its base URL and what it wrote."""

    def __init__(self, model: Path, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recsys", "serve", "-m", str(model), "--port", "0", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, o=lines: o.extend(s), daemon=True).start()
        self.url = self._wait_for_url()
        self.wait_healthy()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in list(self.out):
                if "http://" in line:
                    return "http://" + line.split("http://", 1)[1].split("/", 1)[0]
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"recsys serve stopped at start: {''.join(self.err)}")
            time.sleep(0.05)
        self.stop()
        pytest.fail("recsys serve did not announce its address in time")

    def wait_healthy(self) -> dict:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.url}/health", timeout=5)
                if answer.status_code == 200:
                    return answer.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail("recsys serve did not answer /health in time")

    def wait_for(self, check, timeout: float = 30.0) -> dict:
        """Poll /health until ``check(health)`` is true."""
        deadline = time.monotonic() + timeout
        health = {}
        while time.monotonic() < deadline:
            health = httpx.get(f"{self.url}/health", timeout=5).json()
            if check(health):
                return health
            time.sleep(0.05)
        pytest.fail(f"the server's health never reached the expected state: {health}")

    def stop(self) -> None:
        """SIGTERM by pid (uvicorn shuts down gracefully), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def fit_model(path: Path, *options: object) -> Path:
    """``recsys fit ... --validation 0 -o path`` on the bundled data."""
    result = run("fit", *options, "--validation", "0", "-o", path)
    assert result.exit_code == 0, result.output
    return path


def replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``target``, then rename it over ``target``."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, target)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("serve-models")
    return {
        "mf": fit_model(folder / "mf.npz", "--model", "mf", "--epochs", "5", "--factors", "8"),
        "mf2": fit_model(folder / "mf2.npz", "--model", "mf", "--epochs", "5", "--factors", "8",
                         "--seed", "1"),
        "mean": fit_model(folder / "mean.npz", "--model", "mean"),
    }


@pytest.fixture(scope="module")
def server(models):
    srv = Server(models["mf"], "--reload-interval", "0")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def model(models):
    return load_model(models["mf"])


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_importing_recsys_does_not_import_the_server_stack():
    code = ("import sys, recsys, recsys.cli, recsys.serve; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_without_the_extra_one_line_names_it(models):
    code = ("import sys; sys.modules['fastapi'] = None; from recsys.cli import main; "
            f"main(['serve', '-m', {str(models['mf'])!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'pip install "recsys[serve]"' in lines[0], out.stderr


def test_bad_model_file_is_one_line_before_starting(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_clean_error(run("serve", "-m", broken), 1, "broken.npz")
    assert_one_clean_error(run("serve", "-m", tmp_path / "missing.npz"), 1, "not found")


def test_port_in_use_is_one_line(models):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("serve", "-m", models["mf"], "--port", port)
    assert_one_clean_error(result, 1, f"127.0.0.1:{port}", "another --port")


def test_binds_to_loopback_by_default_and_reports_the_model(server, models, model):
    assert server.url.startswith("http://127.0.0.1:")
    health = server.wait_for(lambda h: h["score_table"] == "ready")
    assert health["status"] == "ok"
    assert health["model"] == "MatrixFactorization"
    assert Path(health["file"]) == models["mf"].resolve()
    assert health["loaded_at"] and health["file_modified"]
    assert health["users"] == int(np.count_nonzero(model.user_counts_))
    assert health["items"] == int(np.count_nonzero(model.item_counts_))
    assert health["ratings"] == int(model.item_counts_.sum())
    assert health["rating_scale"] == [0.5, 5.0]
    assert health["fold_in"] is True and health["similar"] is True
    assert health["reloads"] == 0 and health["reload_error"] is None


def _ids(answer: dict) -> list:
    return [row["item"] for row in answer["items"]]


def _same_ranking(served: dict, frame, column: str) -> None:
    """The server's list is the library's (scores may differ in float32 rounding)."""
    got = np.array([row[column] for row in served["items"]])
    want = frame[column].to_numpy()
    assert len(got) == len(want)
    assert np.allclose(got, want, atol=1e-3)
    assert len(set(_ids(served)) & set(frame["item"].tolist())) >= len(want) - 1


def test_recommend_known_user_is_the_library_list(server, client, model):
    health = server.wait_for(lambda h: h["score_table"] == "ready")
    assert health["rank_by"] == "relevance"  # the default of rating models
    for user in (model.user_ids_[0], model.user_ids_[77], model.user_ids_[-1]):
        for rank_by in (None, "rating", "relevance"):
            params = {"user": str(user), "n": 10} | ({"rank_by": rank_by} if rank_by else {})
            answer = client.get("/recommend", params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["user"] == int(user) and body["model"] == "MatrixFactorization"
            assert body["rank_by"] == (rank_by or "relevance")
            assert len(body["items"]) == 10
            predictions = [row["prediction"] for row in body["items"]]
            if rank_by == "rating":
                assert predictions == sorted(predictions, reverse=True)
            assert all(0.5 <= p <= 5.0 for p in predictions)
            assert all(row["ratings"] >= 5 and row["title"] for row in body["items"])
            u = int(np.flatnonzero(model.user_ids_ == user)[0])
            seen = set(model.item_ids_[model.seen_items_[model.seen_indptr_[u]:
                                                         model.seen_indptr_[u + 1]]].tolist())
            assert not seen & set(_ids(body))
            _same_ranking(body, model.recommend(user, n=10, min_item_ratings=5, rank_by=rank_by),
                          "prediction")
    wide = client.get("/recommend", params={"user": "1", "n": 1000, "min_ratings": 1,
                                            "include_seen": "true"}).json()
    assert len(wide["items"]) == 1000
    _same_ranking(wide, model.recommend(1, n=1000, exclude_seen=False), "prediction")


def test_recommend_new_user_folds_the_ratings_in(client, model):
    ratings = {"Toy Story (1995)": 5, "2571": 4.5, "Heat": 1, "Godfather, The": 4}
    answer = client.post("/recommend", json={"ratings": ratings, "n": 8})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [row["item"] for row in body["rated"]] == [1, 2571, 6, 858]
    assert [row["rating"] for row in body["rated"]] == [5.0, 4.5, 1.0, 4.0]
    assert len(body["items"]) == 8 and not {1, 2571, 6, 858} & set(_ids(body))
    want = model.recommend(ratings={1: 5, 2571: 4.5, 6: 1, 858: 4}, n=8, min_item_ratings=5)
    _same_ranking(body, want, "prediction")
    by_rating = client.post("/recommend", json={"ratings": ratings, "n": 8,
                                                "rank_by": "rating"}).json()
    assert by_rating["rank_by"] == "rating"
    _same_ranking(by_rating, model.recommend(ratings={1: 5, 2571: 4.5, 6: 1, 858: 4}, n=8,
                                             min_item_ratings=5, rank_by="rating"),
                  "prediction")
    other = client.post("/recommend", json={"ratings": {"1": 1, "2571": 1, "6": 5}}).json()
    assert _ids(other) != _ids(body)  # different tastes, a different list


def test_predict_similar_and_items(client, model):
    body = client.get("/predict", params={"user": "1", "item": "Toy Story (1995)"}).json()
    assert body["item"] == 1 and body["user"] == 1
    assert body["prediction"] == pytest.approx(float(model.predict(1, 1)[0]), abs=1e-3)

    by_title = client.get("/similar", params={"item": "toy story", "n": 5}).json()
    by_id = client.get("/similar", params={"item": "1", "n": 5}).json()
    assert by_title["query"]["title"] == "Toy Story (1995)"
    assert by_title["items"] == by_id["items"]
    _same_ranking(by_id, model.similar_items(1, n=5, min_item_ratings=5), "similarity")

    found = client.get("/items", params={"search": "the matrix"}).json()
    assert found["items"][0]["title"] == "Matrix, The (1999)"
    assert found["items"][0]["item"] == 2571 and found["items"][0]["year"] == 1999
    assert found["items"][0]["ratings"] == int(model.item_counts_[model.resolve_item(2571)])
    assert all("matrix" in row["title"].lower() for row in found["items"])
    top = client.get("/items", params={"limit": 100}).json()
    counts = [row["ratings"] for row in top["items"]]
    assert len(counts) == 100 and counts == sorted(counts, reverse=True)
    assert top["total"] == int(np.count_nonzero(model.item_counts_))
    assert client.get("/items", params={"search": "zzzqqqxxx"}).json()["items"] == []


def test_docs_schema_and_page(client):
    schema = client.get("/openapi.json").json()
    assert {"/recommend", "/predict", "/similar", "/items", "/health"} <= set(schema["paths"])
    assert {"get", "post"} <= set(schema["paths"]["/recommend"])
    names = [p["name"] for p in schema["paths"]["/recommend"]["get"]["parameters"]]
    assert names == ["user", "n", "min_ratings", "rank_by", "include_seen"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    # the viewer's script and style are served here (the serve extra's fastapi-offline),
    # so the page works without the internet
    assert '"/docs/swagger-ui-bundle.js"' in docs.text or "'/docs/swagger-ui-bundle.js'" in docs.text
    script, style = client.get("/docs/swagger-ui-bundle.js"), client.get("/docs/swagger-ui.css")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    missing = client.get("/docs/nothing.js")
    assert missing.status_code == 404 and missing.json()["field"] == "name"
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/app.js">' in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]


_LONG = "x" * 201
BAD_GETS = [
    ("/recommend", {}, 422, "user"),
    ("/recommend", {"user": ""}, 422, "user"),
    ("/recommend", {"user": "999999"}, 404, "user"),
    ("/recommend", {"user": "no such user"}, 404, "user"),
    ("/recommend", {"user": _LONG}, 422, "user"),
    ("/recommend", {"user": "1", "n": "0"}, 422, "n"),
    ("/recommend", {"user": "1", "n": "1001"}, 422, "n"),
    ("/recommend", {"user": "1", "n": "ten"}, 422, "n"),
    ("/recommend", {"user": "1", "n": "2.5"}, 422, "n"),
    ("/recommend", [("user", "1"), ("n", "3"), ("n", "4")], 422, "n"),
    ("/recommend", {"user": "1", "min_ratings": "0"}, 422, "min_ratings"),
    ("/recommend", {"user": "1", "include_seen": "maybe"}, 422, "include_seen"),
    ("/recommend", {"user": "1", "rank_by": "stars"}, 422, "rank_by"),
    ("/predict", {"user": "1"}, 422, "item"),
    ("/predict", {"item": "1"}, 422, "user"),
    ("/predict", {"user": "999999", "item": "1"}, 404, "user"),
    ("/predict", {"user": "1", "item": "no film has this title"}, 404, "item"),
    ("/predict", {"user": "1", "item": "Matrix"}, 422, "item"),  # ambiguous: 4 titles
    ("/predict", {"user": "1", "item": "99999999"}, 404, "item"),
    ("/similar", {}, 422, "item"),
    ("/similar", {"item": "no film has this title"}, 404, "item"),
    ("/similar", {"item": "1", "n": "-1"}, 422, "n"),
    ("/similar", {"item": "1", "min_ratings": "x"}, 422, "min_ratings"),
    ("/items", {"limit": "0"}, 422, "limit"),
    ("/items", {"limit": "101"}, 422, "limit"),
    ("/items", {"search": _LONG}, 422, "search"),
]


def _assert_json_error(answer: httpx.Response, status: int, field: str | None) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json")
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    body = answer.json()
    assert set(body) == {"error", "field"}
    assert body["field"] == field, body
    assert body["error"] and "\n" not in body["error"]


@pytest.mark.parametrize("path, params, status, field", BAD_GETS)
def test_bad_query_is_a_json_4xx_naming_the_field(client, path, params, status, field):
    _assert_json_error(client.get(path, params=params), status, field)


BAD_BODIES = [
    (b"not json", 400, "body"),
    (b"", 400, "body"),
    (b"\xff\xfe{}", 400, "body"),
    (b"[" * 20000, 400, "body"),  # nested past the parser's recursion limit
    (b'{"ratings": {"1": NaN}}', 400, "body"),
    (b"[1, 2]", 422, "body"),
    (b"{}", 422, "ratings"),
    (b'{"ratings": []}', 422, "ratings"),
    (b'{"ratings": {}}', 422, "ratings"),
    (b'{"ratings": {"1": "five"}}', 422, "ratings.1"),
    (b'{"ratings": {"1": true}}', 422, "ratings.1"),
    (b'{"ratings": {"1": 9}}', 422, "ratings.1"),
    (b'{"ratings": {"1": 0.1}}', 422, "ratings.1"),
    (b'{"ratings": {"1": 4, "1": 5}}', 422, "ratings.1"),
    (b'{"ratings": {"1": 4, "Toy Story (1995)": 5}}', 422, "ratings.Toy Story (1995)"),
    (b'{"ratings": {"no film has this title": 4}}', 404, "ratings.no film has this title"),
    (b'{"ratings": {"99999999": 4}}', 404, "ratings.99999999"),
    (b'{"ratings": {"Matrix": 4}}', 422, "ratings.Matrix"),
    (b'{"ratings": {"1": 4}, "n": 0}', 422, "n"),
    (b'{"ratings": {"1": 4}, "n": 1001}', 422, "n"),
    (b'{"ratings": {"1": 4}, "n": "10"}', 422, "n"),
    (b'{"ratings": {"1": 4}, "n": true}', 422, "n"),
    (b'{"ratings": {"1": 4}, "n": 2.5}', 422, "n"),
    (b'{"ratings": {"1": 4}, "min_ratings": -3}', 422, "min_ratings"),
    (b'{"ratings": {"1": 4}, "rating": 3}', 422, "rating"),
    (b'{"ratings": {"1": 4}, "rank_by": "stars"}', 422, "rank_by"),
    (json.dumps({"ratings": {str(i): 3 for i in range(1001)}}).encode(), 422, "ratings"),
    (b'{"ratings": {"1": 4}, "pad": "' + b"x" * 70_000 + b'"}', 413, "body"),
]


@pytest.mark.parametrize("body, status, field", BAD_BODIES,
                         ids=[f"{i}-{s}-{f}" for i, (_, s, f) in enumerate(BAD_BODIES)])
def test_bad_body_is_a_json_4xx_naming_the_field(client, body, status, field):
    answer = client.post("/recommend", content=body,
                         headers={"content-type": "application/json"})
    _assert_json_error(answer, status, field)


def test_too_large_streamed_body_and_odd_requests(client, server):
    def chunks():  # no Content-Length: counted while it arrives
        for _ in range(40):
            yield b"x" * 4096
    _assert_json_error(client.post("/recommend", content=chunks()), 413, "body")
    _assert_json_error(client.get("/no/such/path"), 404, None)
    _assert_json_error(client.delete("/recommend"), 405, None)
    _assert_json_error(client.get("/static/nothing.js"), 404, "name")
    assert client.get("/health").status_code == 200
    assert not [line for line in server.err if "Traceback" in line or "internal error" in line]


def test_a_reloaded_model_is_ranked_before_the_swap_and_the_table_changes_no_list(
        models, model, tmp_path):
    """In-process (the server's code without the server): the watcher's check loads the
    changed file and builds its rank table, then swaps; the lists from the table, from past
    its rows (the model asked) and without a table are the library's."""
    from recsys.serve.holder import ModelHolder
    from recsys.serve.snapshot import Snapshot

    served = tmp_path / "served.npz"
    served.write_bytes(models["mean"].read_bytes())
    holder = ModelHolder.open(served, interval=0)
    assert not holder.check()  # unchanged
    old = holder.current
    replace_file(served, models["mf"].read_bytes())
    assert holder.check()
    tabled = holder.current
    assert tabled is not old and tabled.model_class == "MatrixFactorization"
    assert tabled.table is not None and holder.health()["score_table"] == "ready"
    assert holder.health()["reloads"] == 1

    plain = Snapshot.load(models["mf"])
    assert plain.table is None
    for user, n, min_ratings, seen in ((5, 7, 5, False), (9, 1000, 1, False),
                                       (9, 3000, 1, True), (414, 900, 20, False)):
        want = model.recommend(user, n=n, min_item_ratings=min_ratings, exclude_seen=not seen)
        for snapshot in (plain, tabled):
            got = snapshot.recommend_user(str(user), n, min_ratings, seen)
            _same_ranking(got, want, "prediction")
            assert json.loads(snapshot.recommend_user_json(str(user), n, min_ratings, seen)) \
                == got


def test_reload_under_load_and_a_broken_file_keeps_the_old_model(models, tmp_path):
    served = tmp_path / "served.npz"
    served.write_bytes(models["mf"].read_bytes())
    srv = Server(served, "--reload-interval", "0.1", "--no-precompute")  # quicker swaps
    try:
        first = srv.wait_healthy()
        users = [str(u) for u in load_model(models["mf"]).user_ids_[:200]]
        outcomes: list[tuple[int, str]] = []
        stop = threading.Event()

        def hammer(seed: int) -> None:
            rng = np.random.default_rng(seed)
            with httpx.Client(base_url=srv.url, timeout=30) as c:
                while not stop.is_set():
                    try:
                        r = c.get("/recommend", params={"user": users[rng.integers(200)]})
                        outcomes.append((r.status_code, r.json().get("model", r.text)))
                    except Exception as exc:  # a dropped connection is a failure too
                        outcomes.append((0, repr(exc)))

        threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            replace_file(served, models["mean"].read_bytes())
            swapped = srv.wait_for(lambda h: h["model"] == "GlobalMean")
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert len(outcomes) > 20
        assert all(status == 200 for status, _ in outcomes), \
            [o for o in outcomes if o[0] != 200][:3]
        assert {m for _, m in outcomes} == {"MatrixFactorization", "GlobalMean"}
        assert swapped["reloads"] == 1 and swapped["loaded_at"] >= first["loaded_at"]
        assert swapped["fold_in"] is False and swapped["similar"] is False

        # the new model cannot fold in or compare items: a clear 422, not a 500
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            refused = c.post("/recommend", json={"ratings": {"1": 4}})
            _assert_json_error(refused, 422, "ratings")
            assert "cannot fold in" in refused.json()["error"]
            _assert_json_error(c.get("/similar", params={"item": "1"}), 422, "item")

            # a broken file and a half-written one: the old model keeps serving
            for broken in (b"garbage, not a model", models["mf2"].read_bytes()[:50_000]):
                before = c.get("/health").json()
                replace_file(served, broken)
                failed = srv.wait_for(lambda h: h["reload_error"] is not None)
                assert failed["model"] == "GlobalMean"
                assert failed["loaded_at"] == before["loaded_at"]
                assert failed["reloads"] == before["reloads"]
                assert c.get("/recommend", params={"user": "1"}).status_code == 200
                replace_file(served, models["mean"].read_bytes())  # clears the error
                srv.wait_for(lambda h: h["reload_error"] is None)
            assert sum("was not reloaded" in line for line in srv.err) == 2, srv.err

            replace_file(served, models["mf2"].read_bytes())
            back = srv.wait_for(lambda h: h["model"] == "MatrixFactorization")
            assert back["reload_error"] is None and back["reloads"] >= 2
            assert c.post("/recommend", json={"ratings": {"1": 4}}).status_code == 200
    finally:
        srv.stop()
    assert srv.proc.returncode == 0, "".join(srv.err)
