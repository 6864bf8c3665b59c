"""Load on loopback: 32 clients against one `moodtune serve`, two rounds of 60 s.

    .venv/bin/python bench/load.py [--clients 32] [--seconds 60] [--data-dir DIR]

The server is started here as its own process (`moodtune serve`, SQLite, the bundled 82k-track
catalog; `moodtune init` runs first when DIR has no database yet). Each client loops without
pause over a mix drawn with a fixed seed: 70 % POST /recommendations (random emotion, strategy
and length), 20 % POST /emotions with the astronaut photo, 10 % GET /tracks?q= (a word from a
track title). Reports requests, errors by status code, p50/p99 latency per kind and the
server's RSS before, between and after the rounds (a steady RSS means no leak). The clients
share the machine with the server. Prints one JSON object and writes bench/results/load.json.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "load.json"
PHOTO = (REPO / "tests" / "fixtures" / "astronaut.jpg").read_bytes()
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
STRATEGIES = ["match", "uplift", "calm", "journey"]
WORDS = ["love", "night", "blue", "rain", "fire", "dance", "home", "dream", "light", "time"]
MIX = (("recommend", 0.7), ("photo", 0.2), ("search", 0.1))


def server_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError("VmRSS")


async def one_request(client: httpx2.AsyncClient, kind: str, rng: random.Random) -> int:
    if kind == "recommend":
        body = {"emotion": rng.choice(EMOTIONS), "strategy": rng.choice(STRATEGIES),
                "n": rng.randint(5, 30)}  # fmt: skip
        response = await client.post("/api/v1/recommendations", json=body)
    elif kind == "photo":
        files = {"image": ("me.jpg", PHOTO, "image/jpeg")}
        response = await client.post("/api/v1/emotions", files=files)
    else:
        response = await client.get("/api/v1/tracks", params={"q": rng.choice(WORDS)})
    return response.status_code


async def run_round(base_url: str, clients: int, seconds: float, seed: int) -> dict[str, object]:
    latencies: dict[str, list[float]] = {kind: [] for kind, _ in MIX}
    codes: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        async with httpx2.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
            while time.monotonic() < deadline:
                kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
                started = time.perf_counter()
                try:
                    status = str(await one_request(client, kind, rng))
                except httpx2.HTTPError as exc:
                    status = type(exc).__name__
                latencies[kind].append((time.perf_counter() - started) * 1000)
                codes[status] += 1

    started = time.monotonic()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    total = sum(codes.values())

    def summary(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        if not values:
            return {}
        return {
            "requests": len(values),
            "p50_ms": round(statistics.median(values), 1),
            "p99_ms": round(values[min(len(values) - 1, int(0.99 * len(values)))], 1),
        }

    return {
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "errors_by_code": {c: n for c, n in sorted(codes.items()) if not c.startswith("2")},
        "by_kind": {kind: summary(v) for kind, v in latencies.items()},
        "all": summary([x for v in latencies.values() for x in v]),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            if httpx2.get(f"{base_url}/api/v1/readyz", timeout=5).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the server was not ready within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="moodtune-load-"))
    env = {**os.environ, "MOODTUNE_DATA_DIR": str(data_dir), "MOODTUNE_LOG_LEVEL": "WARNING"}
    moodtune = str(Path(sys.executable).parent / "moodtune")
    if not (data_dir / "moodtune.db").exists():
        subprocess.run([moodtune, "init"], env=env, check=True, capture_output=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [moodtune, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(base_url, server)
        rss = [server_rss_mb(server.pid)]
        rounds = []
        for seed in (1, 2):
            rounds.append(asyncio.run(run_round(base_url, args.clients, args.seconds, seed)))
            rss.append(server_rss_mb(server.pid))
            print(f"round {seed}: {rounds[-1]['all']}, rss {rss[-1]} MB", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(30)
    results = {
        "benchmark": "load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "clients": args.clients,
        "seconds_per_round": args.seconds,
        "mix": dict(MIX),
        "server": "one `moodtune serve` process, SQLite, bundled catalog; clients on this "
        "machine too",
        "rounds": rounds,
        "server_rss_mb": {"before": rss[0], "after_round_1": rss[1], "after_round_2": rss[2]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
