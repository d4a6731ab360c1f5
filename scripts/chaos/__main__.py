"""Chaos and soak runs against real gateway processes (load to 127.0.0.1 only).

    python -m scripts.chaos all              # three chaos runs (20-30 s each), a 5 min soak
    python -m scripts.chaos redis-kill --duration 60 --concurrency 32
    python -m scripts.chaos all --ci         # the short version CI runs (about 1.5 min)

Each run prints requests sent, answers by status, errors by kind, the 5xx count, lost
requests, latency, the gateway's RSS at start and end, and the gateway log's notable lines;
the command exits 1 if any run saw an undocumented 5xx, a lost request, a wrong answer or an
error in the gateway log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from scripts.chaos.scenarios import SCENARIOS

DEFAULT_SECONDS = {"redis-kill": 30.0, "zendesk": 30.0, "sigterm": 20.0, "soak": 300.0}
CI_SECONDS = {"redis-kill": 15.0, "zendesk": 16.0, "sigterm": 10.0, "soak": 45.0}


async def main(names: list[str], duration: float | None, concurrency: int, ci: bool) -> int:
    failed = 0
    for name in names:
        seconds = duration or (CI_SECONDS if ci else DEFAULT_SECONDS)[name]
        run = await SCENARIOS[name](seconds, concurrency)
        print(run.report(), flush=True)
        failed += bool(run.problems)
    print(f"chaos: {len(names) - failed} of {len(names)} runs passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m scripts.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--duration", type=float, help="seconds per run (default: per scenario)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--ci", action="store_true", help="the short durations CI uses")
    args = parser.parse_args()
    chosen = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    sys.exit(asyncio.run(main(chosen, args.duration, args.concurrency, args.ci)))
