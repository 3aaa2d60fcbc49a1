"""Throughput and latency of ``GET /recommend`` under ``recsys serve``, on loopback.

Starts ``recsys serve`` (a subprocess on a free 127.0.0.1 port; stopped by its pid at the
end) on a model file (``-m``), or on a model fitted here on the bundled data
(``--fit mf`` by default: ``recsys fit --model mf``, into a temporary folder), waits until
``/health`` says the score table is ready, warms up, then runs ``--clients`` concurrent
clients, each on its own keep-alive connection, asking ``GET /recommend?user=U&n=10`` for
random known users (seeded) until ``--requests`` answers or ``--seconds`` have passed. Every
answer must be a 200 whose JSON lists items; anything else counts as an error.

The clients are asyncio streams speaking HTTP/1.1 directly (one process, a few microseconds
per request), so that on a shared 2-core machine the client takes as little CPU from the
server as it can. Latency is from writing the request to reading the whole body. The server's
CPU time per request (from ``/proc``) is reported too: on a machine shared with other work the
latencies say as much about the neighbours as about the server, its CPU time much less so.

``--modes`` compares server settings in the same run, interleaved in rounds (each mode has
its own server): ``table`` (the default: every known user scored once at load, see
:mod:`recsys.serve.snapshot`) and ``per-request`` (``--no-precompute``: each request runs the
model).

Run (there is no peer: the libraries compared elsewhere have no server)::

    python bench/bench_serve.py                               # MF fitted here, table
    python bench/bench_serve.py --modes table,per-request     # both, interleaved
    python bench/bench_serve.py -m hybrid.npz --modes table   # a saved model

Measured: see the README's serve section (figures vary with the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

MODE_FLAGS = {"table": [], "per-request": ["--no-precompute"]}


def start_server(model: Path, flags: list[str], timeout: float = 600.0
                 ) -> tuple[subprocess.Popen, str]:
    """``recsys serve -m MODEL --port 0 FLAGS`` and its base URL, once the score table is
    built (or off)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys", "serve", "-m", str(model), "--port", "0",
         "--reload-interval", "0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline and url is None:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped: {proc.stderr.read().strip()}")
        for line in list(lines):
            if "http://" in line:
                url = line.split("http://", 1)[1].split("/", 1)[0]
        time.sleep(0.1)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{url}/health", timeout=5) as answer:
                health = json.load(answer)
            if health["score_table"] != "building" and health["score_table"] != "not built":
                return proc, url
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit("the server did not become ready in time")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM by pid, then SIGKILL if it does not stop within 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


async def _client(address: str, users: list, rng: random.Random, stop_at: float,
                  budget: list[int], latencies: list[float], errors: list[str]) -> None:
    host, port = address.rsplit(":", 1)
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            user = users[rng.randrange(len(users))]
            request = (f"GET /recommend?user={user}&n=10 HTTP/1.1\r\nHost: {address}\r\n"
                       "\r\n").encode()
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            status = head.split(b" ", 2)[1]
            if status != b"200" or not json.loads(body).get("items"):
                errors.append(f"{status.decode()} {body[:120]!r}")
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        if writer is not None:
            writer.close()


def run_load(address: str, users: list, clients: int, requests: int, seconds: float,
             seed: int) -> dict:
    """``clients`` concurrent keep-alive clients until ``requests`` answers or ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    budget = [requests]

    async def main() -> float:
        stop_at = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(
            _client(address, users, random.Random(seed * 1000 + c), stop_at, budget,
                    latencies, errors) for c in range(clients)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _known_users(model: Path) -> list:
    """The model's users with training ratings; the model itself is dropped and the
    client's heap frozen, so that no full garbage collection of the client (a hybrid model
    is 150,000+ objects: a pause of 100 ms or more) shows up as server latency."""
    from recsys.models.io import load_model

    fitted = load_model(model)
    users = [u.item() for u, c in zip(fitted.user_ids_, fitted.user_counts_) if c > 0]
    del fitted
    gc.collect()
    gc.freeze()
    return users


def _fit(name: str, folder: Path) -> Path:
    out = folder / f"{name}.npz"
    print(f"fitting {name} on the bundled data...", flush=True)
    subprocess.run([sys.executable, "-m", "recsys", "fit", "--model", name, "-o", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", type=Path, help="model file (default: fit one)")
    parser.add_argument("--fit", default="mf", help="model to fit when -m is not given")
    parser.add_argument("--modes", default="table",
                        help=f"comma-separated server settings: {', '.join(MODE_FLAGS)}")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000, help="per mode")
    parser.add_argument("--seconds", type=float, default=30.0, help="per mode")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODE_FLAGS]
    if unknown:
        raise SystemExit(f"unknown mode(s) {unknown}: choose among {list(MODE_FLAGS)}")
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or _fit(args.fit, Path(folder))
        users = _known_users(model)
        servers = {}
        try:
            for mode in modes:
                servers[mode] = start_server(model, MODE_FLAGS[mode])
                run_load(servers[mode][1], users, args.clients, 200, 10, args.seed + 99)
            results = {m: {"latencies": [], "errors": [], "elapsed": 0.0, "cpu": 0.0}
                       for m in modes}
            for r in range(args.rounds):
                for mode in modes:
                    cpu = cpu_seconds(servers[mode][0].pid)
                    got = run_load(servers[mode][1], users, args.clients,
                                   args.requests // args.rounds, args.seconds / args.rounds,
                                   args.seed + r)
                    for key in ("latencies", "errors"):
                        results[mode][key] += got[key]
                    results[mode]["elapsed"] += got["elapsed"]
                    results[mode]["cpu"] += cpu_seconds(servers[mode][0].pid) - cpu
        finally:
            for proc, _ in servers.values():
                stop_server(proc)
    print(f"model {model.name}, {len(users)} known users, {args.clients} clients, "
          f"GET /recommend?n=10 on loopback")
    print(f"{'mode':12s} {'requests':>9s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'max ms':>8s} {'errors':>7s} {'server CPU ms/req':>18s}")
    for mode, res in results.items():
        lat = res["latencies"]
        print(f"{mode:12s} {len(lat):9d} {len(lat) / res['elapsed']:8.0f} "
              f"{_quantile(lat, 0.5) * 1e3:8.1f} {_quantile(lat, 0.99) * 1e3:8.1f} "
              f"{max(lat, default=float('nan')) * 1e3:8.1f} {len(res['errors']):7d} "
              f"{res['cpu'] / max(len(lat), 1) * 1e3:18.2f}")
        for line in res["errors"][:3]:
            print(f"  error: {line}")


if __name__ == "__main__":
    main()
