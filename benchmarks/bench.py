"""Token-path benchmark: the gateway as a share of what aiohttp itself can serve, from one run.

    python benchmarks/bench.py [--seconds 3] [--rounds 9] [--memory-requests 1000000]
                               [--workers-seconds 4] [--skip-workers]

Three kinds of server run pinned to CPU 0 (``taskset``), on the same event loop (uvloop when
installed):

* **the limit**: aiohttp's low-level ``web.Server`` (no router, no middleware) answering a
  constant JSON body of the token answer's size (``limit_app.py``);
* **the floor**: a bare ``web.Application`` answering the same body (``bare_app.py``), the
  least any aiohttp application costs;
* **the gateway**: ``bridge serve`` with its production defaults on (access lines to a file,
  metrics, CORS with an ``Origin`` on every request, Fetch Metadata, rate limits set high
  enough never to refuse the one benchmark client), every request fully authorised; and a
  second gateway whose login system signs with RS256 and publishes its keys on a local key
  server.

``wrk`` drives them from CPU 1, one server at a time. Each round runs every scenario against
the limit, the floor and the gateway back to back, in a rotating order, and each ratio is
taken within its round; the printed ratio is the median over the rounds, with the quartiles
and the range, because one CPU of a shared machine drifts by a fifth or more within a minute.
Scenarios:

* ``hot``: one user's login cookie on every request to ``/generate/token``;
* ``users-10k``: 10,000 distinct users' cookies in rotation;
* ``users-10k-rs256``: the same against the RS256 login system;
* ``lookup-hit``: ``GET /v1/visitors/{id}`` with a staff key, answered from the cache.

For ``hot`` and ``users-10k`` a fourth server runs in the same rounds when Go is installed: the
token server a site would otherwise write by hand (``peers/go/main.go``: the ``token`` cookie,
HS256, the Zendesk Chat token, CORS for one origin), built from Debian's ``golang-go`` and
``golang-github-golang-jwt-jwt-dev`` and run with ``GOMAXPROCS=1`` on the same CPU; the gateway's
throughput is then also printed as a multiple of that server's. Without Go the benchmark says
why it left that server out. ``--before DIR`` (a checkout of earlier code, e.g. made with
``git worktree add``) adds that code's gateway to the same rounds of ``hot`` and ``users-10k``,
so a change's cost is measured against its own past in one run.

Then the gateway's resident memory while it serves ``--memory-requests`` requests from 100,000
distinct users, and the throughput of ``bridge serve --workers 1`` and ``--workers 2`` with
nothing pinned, with the load generator's own share of the machine. Last, the footprint: a fresh
``bridge serve --workers 1`` and ``--workers 2``, the seconds from its start to /readyz 200 and
the resident memory of the supervisor and of each worker at idle and after ``--seconds`` of load.
It exits 1 when a target (docs/performance.md) is missed. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
LOGIN_SECRET = "bench-login-secret-0123456789abcdef0123456789"
STAFF_KEY = "bench-staff-key-0123456789abcdef"
CHAT_SECRET = "bench-zendesk-chat-secret-0123456789abcdef"
ORIGIN = "https://shop.example.com"
VISITOR = "9855790.xjj3ukxyIhn6j3"
ISSUER = "https://login.xsolla.com"
KID = "bench-key"

CONFIG = f"""
server: {{host: 127.0.0.1, port: 0}}
upstream:
  algorithms: [HS256]
  secrets: [{{value: "{LOGIN_SECRET}"}}]
targets:
  zendesk-chat:
    type: zendesk_chat
    secret: {{value: "{CHAT_SECRET}"}}
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
RS_UPSTREAM = """upstream:
  algorithms: [RS256]
  keys_url: http://127.0.0.1:KEYS_PORT/jwks.json
"""

#: (scenario, server) -> the least throughput as a share of the limit
TARGETS = {"hot": 0.70, "users-10k": 0.56}
#: the scenarios the Go token server runs, and the least gateway/Go throughput for each
GO_TARGETS = {"hot": 1.0, "users-10k": 0.0}
#: with --before: the most a scenario's ratio to the limit may fall from the earlier code's
BEFORE_LOSS = 0.03
GO_PACKAGE = Path("/usr/share/gocode/src/github.com/golang-jwt/jwt")
#: the gateway's p99 at most this many times the limit's, for the scenarios with targets
P99_LIMIT = 1.5
#: resident memory may grow at most this much over the second half of the memory run
MEMORY_GROWTH_MIB = 8
#: the most a fresh ``bridge serve`` may hold (resident MiB after load) and take to be ready (s)
FOOTPRINT = {"supervisor": 30.0, "worker": 60.0, "ready_s": 1.0}
ROW = "{:<16} {:>8} {:>8} {:>8} {:>6} {:>11} {:>11} {:>6} {:>17} {:>6} {:>6}"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    #: CPU seconds wrk itself used (user + system)
    cpu_s: float
    wall_s: float


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


def start(
    cmd: list[str], cpu: int | None, log: Path, env: dict[str, str] | None = None, root: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Run ``cmd`` with the package of ``root`` (this checkout unless told otherwise)."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    with log.open("wb") as out:
        return subprocess.Popen(
            [*pin, *cmd],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
        )


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (``bridge serve`` supervises its
    workers, so the gateway's memory is in its children)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # it exited meanwhile
        return total
    return total + sum(rss_kib(int(child)) for child in children)


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` alone."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def footprint(
    work: Path, config: Path, tokens: Path, seconds: float, workers: int
) -> tuple[float, dict[str, float], dict[str, float]]:
    """``bridge serve --workers N`` started fresh (nothing pinned): the seconds from the start to
    /readyz 200, and the resident memory of the supervisor and of each worker (and of any other
    process it started) at idle and after ``seconds`` of token load."""
    port = free_port()
    command = [sys.executable, "-m", "bridge", "serve", "--config", str(config)]
    command += ["--port", str(port), "--workers", str(workers)]
    started = time.monotonic()
    process = start(command, None, work / f"footprint-{workers}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(
                    f"bridge serve --workers {workers} exited with {process.returncode}"
                )
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.01)
        ready = time.monotonic() - started
        time.sleep(1)  # idle: what start-up left behind

        def processes() -> dict[str, float]:
            found = {"supervisor": rss_mib(process.pid)}
            for child in (
                Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            ):
                title = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0].decode()
                found[title.removeprefix("bridge: ") or child] = rss_mib(int(child))
            return found

        idle = processes()
        load = {
            "BENCH_PATH": "/generate/token",
            "BENCH_ORIGIN": ORIGIN,
            "BENCH_TOKENS": str(tokens),
        }
        wrk(url, seconds, 64, load, cpu=None, threads=2)
        return ready, idle, processes()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def mint_tokens(path: Path, users: int, key: rsa.RSAPrivateKey | None = None) -> None:
    """``users`` login tokens, one a line: HS256 with the login secret, or RS256 with ``key``."""
    now = int(time.time())
    with path.open("w") as out:
        for i in range(users):
            claims = {
                "sub": f"{i:08d}-0000-4000-8000-000000000000",
                "email": f"user{i}@example.com",
                "iat": now,
                "exp": now + 3 * 3600,
                "iss": ISSUER,
            }
            if key is None:
                token = jwt.encode(claims, LOGIN_SECRET, algorithm="HS256")
            else:
                token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
            out.write(token + "\n")


def wrk(
    url: str,
    seconds: float,
    connections: int,
    env: dict[str, str],
    *,
    cpu: int | None = 1,
    threads: int = 1,
) -> Result:
    script = str(HERE / "wrk_tokens.lua")
    duration = f"-d{max(1, round(seconds))}s"
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    command = [*pin, "wrk", f"-t{threads}", f"-c{connections}", duration, "-s", script, url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    data = json.loads(line)
    errors = sum(data[k] for k in data if k.startswith("errors_"))
    return Result(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=errors,
        cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        wall_s=wall,
    )


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def port(self) -> str:
        return self.url.rsplit(":", 1)[1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def build_go_peer(work: Path) -> tuple[Path | None, str]:
    """Build ``peers/go`` into ``work``: the binary, or None and why not."""
    go = shutil.which("go")
    if go is None:
        return None, "no Go toolchain (Debian package golang-go)"
    if not GO_PACKAGE.is_dir():
        return None, "no golang-jwt source (Debian package golang-github-golang-jwt-jwt-dev)"
    binary = work / "go-tokens"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GO_PACKAGE.parents[3])}
    env.setdefault("GOCACHE", str(work / "go-cache"))
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=HERE / "peers" / "go",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        return None, "go build failed: " + built.stderr.strip().splitlines()[-1]
    return binary, ""


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen[bytes]] = []

    def serve(
        self,
        name: str,
        cmd: list[str],
        cpu: int | None,
        ready: str,
        env: dict[str, str] | None = None,
        root: Path = ROOT,
    ) -> Server:
        """Start a server (``{port}`` in ``cmd``), once ``ready`` answers."""
        port = free_port()
        command = [part.replace("{port}", str(port)) for part in cmd]
        process = start(command, cpu, self.work / f"{name}.log", env, root)
        self.processes.append(process)
        server = Server(f"http://127.0.0.1:{port}", process)
        wait_ready(server.url + ready, process)
        return server

    def gateway(self, name: str, config: Path, *, cpu: int | None = 0, workers: int = 1) -> Server:
        command = [sys.executable, "-m", "bridge", "serve", "--config", str(config)]
        command += ["--port", "{port}", "--workers", str(workers)]
        return self.serve(name, command, cpu, "/healthz")

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--memory-requests", type=int, default=1_000_000)
    parser.add_argument("--workers-seconds", type=float, default=4)
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of earlier code: its gateway serves hot and users-10k in the same "
        "rounds, on the same CPU, and the two ratios to the limit are compared",
    )
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (Debian packages wrk and util-linux)")

    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    bench = Bench(work)
    failed: list[str] = []
    try:
        # the login system's RS256 keys, on a key server of their own
        rs_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys_dir = work / "keys"
        keys_dir.mkdir()
        jwk = RSAAlgorithm.to_jwk(rs_key.public_key(), as_dict=True)
        jwks = {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}
        (keys_dir / "jwks.json").write_text(json.dumps(jwks))
        keys = bench.serve(
            "keys",
            [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1",
             "--directory", str(keys_dir)],
            1,
            "/jwks.json",
        )  # fmt: skip

        zendesk = bench.serve(
            "zendesk",
            [sys.executable, "-m", "bridge.dev.zendesk", "--port", "{port}"],
            1,
            f"/api/v2/chat/visitors/{VISITOR}",
        )
        config = work / "bench.yaml"
        config.write_text(CONFIG.replace("ZENDESK_PORT", zendesk.port))
        head, _, tail = config.read_text().partition("upstream:")
        tail = tail.split("targets:", 1)[1]
        rs_config = work / "bench-rs256.yaml"
        rs_config.write_text(head + RS_UPSTREAM.replace("KEYS_PORT", keys.port) + "targets:" + tail)

        hot, users_10k, users_100k = work / "hot.txt", work / "10k.txt", work / "100k.txt"
        rs_10k = work / "10k-rs256.txt"
        mint_tokens(hot, 1)
        mint_tokens(users_10k, 10_000)
        mint_tokens(users_100k, 100_000)
        mint_tokens(rs_10k, 10_000, rs_key)

        gateway = bench.gateway("gateway", config)
        gateway_rs = bench.gateway("gateway-rs256", rs_config)

        # the limit and the floor answer as many bytes as the gateway's token answer
        request = urllib.request.Request(  # noqa: S310
            f"{gateway.url}/generate/token",
            headers={"Cookie": "token=" + hot.read_text().strip(), "Origin": ORIGIN},
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310
            size = len(response.read())
        limit = bench.serve(
            "limit", [sys.executable, str(HERE / "limit_app.py"), "{port}", str(size)], 0, "/"
        )
        floor = bench.serve(
            "floor", [sys.executable, str(HERE / "bare_app.py"), "{port}", str(size)], 0, "/"
        )

        go_binary, go_skipped = build_go_peer(work)
        go_peer = None
        if go_binary is not None:
            go_env = {
                "GOMAXPROCS": "1",
                "BENCH_LOGIN_SECRET": LOGIN_SECRET,
                "BENCH_CHAT_SECRET": CHAT_SECRET,
                "BENCH_ORIGIN": ORIGIN,
            }
            go_command = [str(go_binary), "127.0.0.1:{port}"]
            go_peer = bench.serve("go", go_command, 0, "/healthz", go_env)

        before = None
        if args.before is not None:
            command = [sys.executable, "-m", "bridge", "serve", "--config", str(config)]
            command += ["--port", "{port}", "--workers", "1"]
            before = bench.serve("before", command, 0, "/healthz", root=args.before.resolve())

        token_path = {"BENCH_PATH": "/generate/token", "BENCH_ORIGIN": ORIGIN}
        scenarios = {
            "hot": (gateway.url, {**token_path, "BENCH_TOKENS": str(hot)}),
            "users-10k": (gateway.url, {**token_path, "BENCH_TOKENS": str(users_10k)}),
            "users-10k-rs256": (gateway_rs.url, {**token_path, "BENCH_TOKENS": str(rs_10k)}),
            "lookup-hit": (
                gateway.url,
                {"BENCH_AUTH": f"Bearer {STAFF_KEY}", "BENCH_PATH": f"/v1/visitors/{VISITOR}"},
            ),
        }
        # the first pass over 10,000 users verifies each token in full: measured on its own
        # (a cold start); then every token is seen twice so that the rounds measure the
        # steady state
        colds = {
            name: wrk(scenarios[name][0], 2, args.connections, scenarios[name][1])
            for name in ("users-10k", "users-10k-rs256")
        }

        def urls_for(name: str, url: str) -> dict[str, str]:
            urls = {"limit": limit.url, "floor": floor.url, "gateway": url}
            if go_peer is not None and name in GO_TARGETS:
                urls["go"] = go_peer.url
            if before is not None and name in GO_TARGETS:
                urls["before"] = before.url
            return urls

        for name, (url, env) in scenarios.items():
            for target in urls_for(name, url).values():
                seen, needed = 0, 20_000 if name.startswith("users") else 1
                while seen < needed:
                    seen += wrk(target, 2, args.connections, env).requests

        servers = ("limit", "floor", "gateway")
        results: dict[str, dict[str, list[Result]]] = {
            name: {s: [] for s in (*servers, "go", "before")} for name in scenarios
        }
        for round_no in range(args.rounds):
            for name, (url, env) in scenarios.items():
                urls = urls_for(name, url)
                who_runs = tuple(urls)
                turn = round_no % len(who_runs)
                order = who_runs[turn:] + who_runs[:turn]
                for who in order:
                    results[name][who].append(wrk(urls[who], args.seconds, args.connections, env))

        print(
            f"\nbridge token-path benchmark: {os.cpu_count()} CPUs, servers on CPU 0, wrk on "
            f"CPU 1, {args.connections} connections, {args.rounds} rounds of {args.seconds:g}s "
            "per server and scenario; ratios are to the limit (aiohttp's low-level server), "
            "median over the rounds\n"
        )
        print(
            ROW.format(
                "scenario", "limit", "floor", "gateway", "floor", "gateway", "quartiles",
                "range", "p99 ms lim/gw", "p99", "errors",
            )
        )  # fmt: skip
        print(ROW.format("", "rps", "rps", "rps", "ratio", "ratio", "", "", "", "ratio", ""))
        summary: dict[str, dict[str, object]] = {}
        med = statistics.median
        for name in scenarios:
            lim, flo, gw = (results[name][s] for s in servers)
            ratios = [g.rps / m.rps for g, m in zip(gw, lim, strict=True)]
            floors = [f.rps / m.rps for f, m in zip(flo, lim, strict=True)]
            p99s = [g.p99_ms / m.p99_ms for g, m in zip(gw, lim, strict=True)]
            low, high = quartiles(ratios)
            errors = sum(r.errors for r in lim + flo + gw)
            ratio, p99_ratio = med(ratios), med(p99s)
            print(
                ROW.format(
                    name,
                    f"{med(r.rps for r in lim):.0f}",
                    f"{med(r.rps for r in flo):.0f}",
                    f"{med(r.rps for r in gw):.0f}",
                    f"{med(floors):.2f}",
                    f"{ratio:.2f}",
                    f"{low:.2f}-{high:.2f}",
                    f"{min(ratios):.2f}-{max(ratios):.2f}",
                    f"{med(r.p99_ms for r in lim):.2f}/{med(r.p99_ms for r in gw):.2f}",
                    f"{p99_ratio:.2f}",
                    errors,
                )
            )
            summary[name] = {
                "ratio": ratio, "floor_ratio": med(floors), "p99_ratio": p99_ratio,
                "quartiles": [low, high], "errors": errors,
            }  # fmt: skip
            if name in TARGETS:
                if ratio < TARGETS[name]:
                    failed.append(f"{name}: throughput ratio {ratio:.2f} < {TARGETS[name]}")
                if p99_ratio > P99_LIMIT:
                    failed.append(f"{name}: p99 ratio {p99_ratio:.2f} > {P99_LIMIT}")
            if errors:
                failed.append(f"{name}: {errors} errors")

        print()
        if go_peer is None:
            print(f"Go token server: left out ({go_skipped})")
        else:
            print(
                "the gateway against a Go token server (GOMAXPROCS=1, on the gateway's CPU), "
                "same rounds:"
            )
            for name, least in GO_TARGETS.items():
                gw, go = results[name]["gateway"], results[name]["go"]
                per_round = [g.rps / o.rps for g, o in zip(gw, go, strict=True)]
                go_ratio = med(per_round)
                if sum(r.errors for r in go):
                    failed.append(f"{name}: {sum(r.errors for r in go)} errors from Go")
                print(
                    f"  {name}: Go {med(r.rps for r in go):.0f} requests/s, p99 "
                    f"{med(r.p99_ms for r in go):.2f} ms; gateway/Go {go_ratio:.2f} "
                    f"(range {min(per_round):.2f}-{max(per_round):.2f})"
                )
                summary[name]["go_ratio"] = go_ratio
                if go_ratio < least:
                    failed.append(f"{name}: gateway/Go {go_ratio:.2f} < {least}")
        if before is not None:
            print(
                f"\nthe gateway against the code in {args.before} (same configuration, CPU and "
                "rounds), as ratios to the limit:"
            )
            for name in GO_TARGETS:
                lim = results[name]["limit"]
                now = med(g.rps / m.rps for g, m in zip(results[name]["gateway"], lim, strict=True))
                then = med(b.rps / m.rps for b, m in zip(results[name]["before"], lim, strict=True))
                p99_then = med(r.p99_ms for r in results[name]["before"])
                p99_now = med(r.p99_ms for r in results[name]["gateway"])
                change = now / then - 1
                print(
                    f"  {name}: before {then:.3f}, now {now:.3f} ({change:+.1%}); p99 "
                    f"{p99_then:.2f} ms before, {p99_now:.2f} ms now"
                )
                summary[name]["before_ratio"] = then
                if change < -BEFORE_LOSS:
                    failed.append(f"{name}: {change:+.1%} against the code before")
        print()
        for name, cold in colds.items():
            print(
                f"cold start, {name}, each user verified for the first time: {cold.rps:.0f} "
                f"requests/s for the first {cold.requests:,} requests"
            )

        # memory: 100,000 distinct users until --memory-requests requests were served
        pid = gateway.process.pid
        env = {**token_path, "BENCH_TOKENS": str(users_100k)}
        served, samples = 0, [(0, rss_kib(pid))]
        chunk = max(1.0, min(20.0, args.memory_requests / 200_000))
        while served < args.memory_requests:
            served += wrk(gateway.url, chunk, args.connections, env).requests
            samples.append((served, rss_kib(pid)))
        print("\nresident memory of the gateway, 100,000 distinct users (requests: RSS MiB):")
        shown = samples if len(samples) <= 8 else samples[:: max(1, len(samples) // 8)]
        print("  " + ", ".join(f"{n:,}: {kib / 1024:.1f}" for n, kib in [*shown, samples[-1]]))
        half = [kib for n, kib in samples if n >= served / 2]
        growth = (half[-1] - half[0]) / 1024
        print(f"  growth over the second half: {growth:+.1f} MiB")
        if growth > MEMORY_GROWTH_MIB:
            failed.append(f"memory grew {growth:.1f} MiB in the second half")

        scaling: dict[str, float] = {}
        if not args.skip_workers:
            for server in (gateway, gateway_rs, limit, floor, go_peer, before):
                if server is not None:
                    server.stop()
            print(
                "\nworkers, nothing pinned, users-10k; wrk (2 threads) shares the 2 CPUs "
                "with the gateway:"
            )
            for workers in (1, 2):
                served_by = bench.gateway(f"workers-{workers}", config, cpu=None, workers=workers)
                url = served_by.url
                env = {**token_path, "BENCH_TOKENS": str(users_10k)}
                wrk(url, 2, args.connections, env, cpu=None, threads=2)  # warm every worker
                runs = [
                    wrk(url, args.workers_seconds, args.connections, env, cpu=None, threads=2)
                    for _ in range(3)
                ]
                rps = med(r.rps for r in runs)
                share = sum(r.cpu_s for r in runs) / sum(r.wall_s for r in runs) / 2
                scaling[f"workers-{workers}"] = rps
                print(
                    f"  --workers {workers}: {rps:.0f} requests/s (median of 3 runs of "
                    f"{args.workers_seconds:g}s); wrk used {share:.0%} of the machine"
                )
                served_by.stop()
            print(f"  2 workers / 1 worker: {scaling['workers-2'] / scaling['workers-1']:.2f}")

        print(
            "\nfootprint: bridge serve started fresh, nothing pinned; seconds to /readyz 200, "
            f"resident MiB at idle and after {args.seconds:g}s of users-10k:"
        )
        footprints: dict[str, object] = {}
        for workers in (1, 2):
            ready, idle, loaded = footprint(work, config, users_10k, args.seconds, workers)
            footprints[f"workers-{workers}"] = {"ready_s": ready, "idle": idle, "loaded": loaded}
            print(f"  --workers {workers}: ready in {ready:.2f}s")
            for name in loaded:
                print(f"    {name:<14} idle {idle.get(name, 0):6.1f}  loaded {loaded[name]:6.1f}")
            total = f"idle {sum(idle.values()):6.1f}  loaded {sum(loaded.values()):6.1f}"
            print(f"    {'total':<14} {total}")
            for name, mib in loaded.items():
                most = FOOTPRINT["worker" if name.startswith("worker") else "supervisor"]
                if mib > most:
                    failed.append(f"--workers {workers}: {name} {mib:.1f} MiB > {most:g}")
            if ready > FOOTPRINT["ready_s"]:
                failed.append(
                    f"--workers {workers}: ready in {ready:.2f}s > {FOOTPRINT['ready_s']}s"
                )

        print("\ntargets: " + ("all met" if not failed else "MISSED: " + "; ".join(failed)))
        print(
            json.dumps(
                {
                    "summary": summary,
                    "rss_kib": samples,
                    "workers": scaling,
                    "footprint": footprints,
                }
            )
        )
        return 1 if failed else 0
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
