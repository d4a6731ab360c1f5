"""Token-path benchmark: the gateway against a bare aiohttp app, as ratios from one run.

    python benchmarks/bench.py [--seconds 4] [--rounds 7] [--memory-requests 1000000]
                                     [--noise]

Both servers run pinned to CPU 0 (``taskset``); ``wrk`` drives them from CPU 1, one at a time,
alternating which goes first in each round. Each round's ratio compares two runs seconds apart,
and the printed ratio is the median over rounds: on a shared machine the speed of one CPU
drifts by a fifth or more within a minute, so many short paired rounds say more than a few
long ones. ``--noise`` measures that floor: a second, identical bare app against the first,
in the same paired rounds (their ratio would be 1.00 on a quiet machine).

The gateway runs with its production defaults on (access log to a file, metrics, CORS with an
``Origin`` on every request, Fetch Metadata, rate limits set high enough never to refuse the
one benchmark client). Scenarios:

* ``hot``: one user's login cookie on every request to ``/generate/token``;
* ``users-10k``: 10,000 distinct users' cookies in rotation;
* ``lookup-hit``: ``GET /v1/visitors/{id}`` with a staff key, answered from the cache.

The bare app answers a JSON object of the same size as the gateway's answer. The script prints
requests per second, p50 and p99 for each, the ratios to the bare app (median over rounds),
and the gateway's resident memory while it serves ``--memory-requests`` requests from 100,000
distinct users. It exits 1 when a target (docs/performance.md) is missed. Traffic stays on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
LOGIN_SECRET = "bench-login-secret-0123456789abcdef0123456789"
STAFF_KEY = "bench-staff-key-0123456789abcdef"
ORIGIN = "https://shop.example.com"
VISITOR = "9855790.xjj3ukxyIhn6j3"

CONFIG = f"""
server: {{host: 127.0.0.1, port: 0}}
upstream:
  algorithms: [HS256]
  secrets: [{{value: "{LOGIN_SECRET}"}}]
targets:
  zendesk-chat:
    type: zendesk_chat
    secret: {{value: "bench-zendesk-chat-secret-0123456789abcdef"}}
default_target: zendesk-chat
cors:
  origins: ["{ORIGIN}"]
zendesk_chat_api:
  base_url: http://127.0.0.1:ZENDESK_PORT/api/v2/chat
  token: {{value: "DEVELOPMENT-ONLY-zendesk-chat-api-token"}}
staff:
  api_keys: [{{value: "{STAFF_KEY}"}}]
# the limits run (their cost is measured) but never refuse: one benchmark client plays every user
rate_limits:
  per_address: {{per_minute: 1000000, burst: 100000}}
  per_subject: {{per_minute: 1000000, burst: 100000}}
  per_staff_key: {{per_minute: 1000000, burst: 100000}}
"""

TARGETS = {"hot": 0.7, "users-10k": 0.5, "lookup-hit": 0.5}
P99_LIMIT = 2.0
ROW = "{:<12} {:>12} {:>10} {:>6} {:>11} {:>16} {:>16} {:>9} {:>6}"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready")


def start(cmd: list[str], cpu: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["taskset", "-c", str(cpu), *cmd],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def mint_tokens(path: Path, users: int) -> None:
    now = int(time.time())
    with path.open("w") as out:
        for i in range(users):
            claims = {
                "sub": f"{i:08d}-0000-4000-8000-000000000000",
                "email": f"user{i}@example.com",
                "iat": now,
                "exp": now + 3 * 3600,
                "iss": "https://login.xsolla.com",
            }
            out.write(jwt.encode(claims, LOGIN_SECRET, algorithm="HS256") + "\n")


def wrk(url: str, seconds: float, connections: int, env: dict[str, str]) -> Result:
    script = str(HERE / "wrk_tokens.lua")
    duration = f"-d{max(1, round(seconds))}s"
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", duration, "-s", script]
    out = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    data = json.loads(line)
    errors = sum(data[k] for k in data if k.startswith("errors_"))
    return Result(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=errors,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--noise", action="store_true", help="also pair a second bare app with the first"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--memory-requests", type=int, default=1_000_000)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (Debian packages wrk and util-linux)")

    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        zendesk_port, gateway_port, bare_port = free_port(), free_port(), free_port()
        config = work / "bench.yaml"
        config.write_text(CONFIG.replace("ZENDESK_PORT", str(zendesk_port)))
        hot, users_10k, users_100k = work / "hot.txt", work / "10k.txt", work / "100k.txt"
        mint_tokens(hot, 1)
        mint_tokens(users_10k, 10_000)
        mint_tokens(users_100k, 100_000)

        processes.append(
            start(
                [sys.executable, "-m", "bridge.zendesk.dev", "--port", str(zendesk_port)],
                1,
                work / "zendesk.log",
            )
        )
        gateway = start(
            [
                sys.executable,
                "-m",
                "bridge",
                "serve",
                "--config",
                str(config),
                "--port",
                str(gateway_port),
            ],
            0,
            work / "gateway.log",
        )
        processes.append(gateway)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        wait_ready(f"{gateway_url}/healthz", gateway)
        wait_ready(f"http://127.0.0.1:{zendesk_port}/api/v2/chat/visitors/{VISITOR}", processes[0])

        # the bare app answers as many bytes as the gateway does
        request = urllib.request.Request(  # noqa: S310
            f"{gateway_url}/generate/token",
            headers={"Cookie": "token=" + hot.read_text().strip(), "Origin": ORIGIN},
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310
            size = len(response.read())

        def start_bare(port: int, name: str) -> str:
            bare = start(
                [sys.executable, str(HERE / "bare_app.py"), str(port), str(size)],
                0,
                work / f"{name}.log",
            )
            processes.append(bare)
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/", bare)
            return url

        bare_url = start_bare(bare_port, "bare")
        # --noise: the same bare app again, to show what the machine alone does to a ratio
        twin_url = start_bare(free_port(), "twin") if args.noise else None

        auth = {"BENCH_AUTH": f"Bearer {STAFF_KEY}", "BENCH_PATH": f"/v1/visitors/{VISITOR}"}
        scenarios = {
            "hot": {"BENCH_TOKENS": str(hot), "BENCH_ORIGIN": ORIGIN},
            "users-10k": {"BENCH_TOKENS": str(users_10k), "BENCH_ORIGIN": ORIGIN},
            "lookup-hit": auth,
        }
        # the first pass over 10,000 users verifies each token in full: measure it on its
        # own (a cold start), then warm up until every token has been seen twice, so that
        # the rounds measure the steady state
        cold = wrk(gateway_url, 2, args.connections, {**scenarios["users-10k"]})
        for url in (gateway_url, bare_url, *([twin_url] if twin_url else [])):
            for name, env in scenarios.items():
                seen, needed = 0, 20_000 if name == "users-10k" else 1
                while seen < needed:
                    seen += wrk(url, 2, args.connections, env).requests

        pairs = {name: gateway_url for name in scenarios}
        if twin_url is not None:
            scenarios["noise"] = scenarios["hot"]
            pairs["noise"] = twin_url
        results: dict[str, dict[str, list[Result]]] = {
            s: {"gateway": [], "bare": []} for s in scenarios
        }
        for round_no in range(args.rounds):
            for name, env in scenarios.items():
                order = [("gateway", pairs[name]), ("bare", bare_url)]
                if round_no % 2:
                    order.reverse()
                for who, url in order:
                    path_env = {"BENCH_PATH": "/generate/token", **env}
                    results[name][who].append(wrk(url, args.seconds, args.connections, path_env))

        print(
            f"\nbridge token-path benchmark: {os.cpu_count()} CPUs, servers on CPU 0, "
            f"wrk on CPU 1, {args.connections} connections, {args.rounds} rounds of "
            f"{args.seconds:g}s per server and scenario\n"
        )
        header = (
            "scenario",
            "gateway rps",
            "bare rps",
            "ratio",
            "round range",
            "p50 gw/bare ms",
            "p99 gw/bare ms",
            "p99 ratio",
            "errors",
        )
        print(ROW.format(*header))
        failed = []
        summary: dict[str, dict[str, float]] = {}
        for name in scenarios:
            gw, ba = results[name]["gateway"], results[name]["bare"]
            ratios = [g.rps / b.rps for g, b in zip(gw, ba, strict=True)]
            ratio = statistics.median(ratios)
            p99_ratio = statistics.median(g.p99_ms / b.p99_ms for g, b in zip(gw, ba, strict=True))
            errors = sum(r.errors for r in gw + ba)
            med = statistics.median
            print(
                ROW.format(
                    name,
                    f"{med(r.rps for r in gw):.0f}",
                    f"{med(r.rps for r in ba):.0f}",
                    f"{ratio:.2f}",
                    f"{min(ratios):.2f}-{max(ratios):.2f}",
                    f"{med(r.p50_ms for r in gw):.2f}/{med(r.p50_ms for r in ba):.2f}",
                    f"{med(r.p99_ms for r in gw):.2f}/{med(r.p99_ms for r in ba):.2f}",
                    f"{p99_ratio:.2f}",
                    errors,
                )
            )
            summary[name] = {"ratio": ratio, "p99_ratio": p99_ratio, "errors": errors}
            if name not in TARGETS:  # the noise row: a second bare app, no target
                continue
            if ratio < TARGETS[name]:
                failed.append(f"{name}: throughput ratio {ratio:.2f} < {TARGETS[name]}")
            if name != "lookup-hit" and p99_ratio > P99_LIMIT:
                failed.append(f"{name}: p99 ratio {p99_ratio:.2f} > {P99_LIMIT}")
            if errors:
                failed.append(f"{name}: {errors} errors")
        if twin_url is not None:
            print("(noise: the gateway column is a second bare app, identical to the first)")

        print(
            f"\ncold start, 10,000 users each verified for the first time: "
            f"{cold.rps:.0f} requests/s for the first {cold.requests:,} requests"
        )

        # memory: 100,000 distinct users until --memory-requests requests were served
        env = {"BENCH_TOKENS": str(users_100k), "BENCH_ORIGIN": ORIGIN}
        served, samples = 0, [(0, rss_kib(gateway.pid))]
        chunk = max(1.0, min(20.0, args.memory_requests / 200_000))
        while served < args.memory_requests:
            served += wrk(gateway_url, chunk, args.connections, env).requests
            samples.append((served, rss_kib(gateway.pid)))
        print("\nresident memory of the gateway, 100,000 distinct users (requests: RSS MiB):")
        print("  " + ", ".join(f"{n:,}: {kib / 1024:.1f}" for n, kib in samples))
        half = [kib for n, kib in samples if n >= served / 2]
        growth = (half[-1] - half[0]) / 1024
        print(f"  growth over the second half: {growth:+.1f} MiB")
        if growth > 8:
            failed.append(f"memory grew {growth:.1f} MiB in the second half")

        print("\ntargets: " + ("all met" if not failed else "MISSED: " + "; ".join(failed)))
        print(json.dumps({"summary": summary, "rss_kib": samples}))
        return 1 if failed else 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
