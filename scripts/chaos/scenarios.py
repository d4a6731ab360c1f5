"""The four runs: Redis killed, Zendesk failing and hanging, SIGTERM, and a soak.

Each starts its own Redis, fake Zendesk and gateway process, seeds one visitor into the cache,
measures the gateway's RSS, runs :class:`~scripts.chaos.harness.Load` while it does its damage
on a timetable, and returns a :class:`~scripts.chaos.harness.Run` that reports and judges.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from scripts.chaos.harness import (
    SEEDED_VISITOR,
    STAFF_KEY,
    FakeZendesk,
    Gateway,
    Load,
    MiB,
    Run,
    Stage,
    gateway_config,
    redis_server,
    standard_kinds,
)
from tests.support.redis_server import RedisServer


@dataclass
class World:
    gateway: Gateway
    zendesk: FakeZendesk
    redis: RedisServer | None
    run: Run
    started: float = 0.0

    def note(self, what: str) -> None:
        self.run.events.append(f"t={time.monotonic() - self.started:5.1f}s {what}")


@asynccontextmanager
async def world(name: str, *, with_redis: bool = True, workers: int = 1) -> AsyncIterator[World]:
    stage = Stage()
    zendesk = FakeZendesk()
    redis = gateway = None
    try:
        redis = redis_server(stage) if with_redis else None
        await zendesk.start()
        config = gateway_config(redis_url=redis.url if redis else None, zendesk_port=zendesk.port)
        gateway = Gateway(stage.path, config, workers=workers)
        gateway.start()
        await gateway.wait_ready()
        async with aiohttp.ClientSession() as session:  # seed the cache: one Zendesk call
            url = f"{gateway.url}/v1/visitors/{SEEDED_VISITOR}"
            async with session.get(url, headers={"Authorization": f"Bearer {STAFF_KEY}"}) as r:
                if r.status != 200:
                    raise RuntimeError(f"seeding the cache failed: {r.status}")
        yield World(gateway, zendesk, redis, Run(name, rss_start=gateway.rss()))
    finally:
        if gateway is not None:
            gateway.stop()
        await zendesk.stop()
        if redis is not None:
            redis.kill()
        stage.close()


async def drive(
    w: World,
    duration: float,
    concurrency: int,
    timetable: Sequence[tuple[float, str, Callable[[], Awaitable[None]]]],
    *,
    load: Load | None = None,
) -> Load:
    """Run the load for ``duration`` seconds and the timetable's actions at their fractions."""
    load = load or Load(w.gateway.url, standard_kinds(), concurrency=concurrency)
    w.started = time.monotonic()
    sender = asyncio.create_task(load.run(duration))
    for fraction, what, action in sorted(timetable, key=lambda item: item[0]):
        delay = w.started + fraction * duration - time.monotonic()
        await asyncio.wait([sender], timeout=max(0.0, delay))
        if sender.done():
            break
        w.note(what)
        await action()
    await sender
    w.run.duration = time.monotonic() - w.started
    w.run.stats = load.stats
    return load


def finish(w: World) -> Run:
    w.run.rss_end = w.run.rss_end or w.gateway.rss()
    w.gateway.stop()
    w.run.log = w.gateway.log_findings()
    w.run.check()
    return w.run


async def redis_kill(duration: float, concurrency: int) -> Run:
    """Redis SIGKILLed at 30 % of the run and restarted on the same port at 60 %."""
    async with world("redis killed and restarted under load") as w:
        assert w.redis is not None
        redis = w.redis

        async def kill() -> None:
            redis.kill()

        async def restart() -> None:
            await asyncio.to_thread(redis.start)

        timetable = [(0.3, "redis SIGKILLed", kill), (0.6, "redis restarting", restart)]
        await drive(w, duration, concurrency, timetable)
        return finish(w)


async def zendesk_trouble(duration: float, concurrency: int) -> Run:
    """Zendesk answers 500 from 25 % to 50 % of the run and hangs from 50 % to 75 %."""
    async with world("zendesk failing, then hanging, under load") as w:

        def mode(name: str) -> Callable[[], Awaitable[None]]:
            async def switch() -> None:
                w.zendesk.set_mode(name)

            return switch

        timetable = [
            (0.25, "zendesk answers 500", mode("fail")),
            (0.5, "zendesk hangs", mode("hang")),
            (0.75, "zendesk answers again", mode("ok")),
        ]
        await drive(w, duration, concurrency, timetable)
        w.run.events.append(f"zendesk calls in all: {w.zendesk.calls}")
        return finish(w)


async def sigterm(duration: float, concurrency: int) -> Run:
    """SIGTERM at half time, with the load sent like a load balancer would.

    The balancer polls ``/readyz`` every 0.1 s and stops routing new requests to the instance
    once it answers 503 (the gateway's drain); requests already in flight must all be answered,
    and the process must exit 0 within its drain period plus the in-flight time.
    """
    async with world("SIGTERM under load (behind a /readyz-probing balancer)") as w:
        load = Load(w.gateway.url, standard_kinds(), concurrency=concurrency)

        async def balancer() -> None:
            async with aiohttp.ClientSession() as session:
                while not load.stopping.is_set():
                    try:
                        async with session.get(w.gateway.url + "/readyz") as response:
                            if response.status == 503:
                                w.note("balancer saw /readyz 503: no new requests")
                                load.stop()
                                return
                    except aiohttp.ClientError:
                        w.note("balancer lost the instance")
                        load.stop()
                        return
                    await asyncio.sleep(0.1)

        async def terminate() -> None:
            asyncio.get_running_loop().create_task(balancer())
            w.run.rss_end = w.gateway.rss()
            w.gateway.terminate()
            stopped = time.monotonic()
            code = await w.gateway.wait_exit(seconds=30)
            w.note(f"gateway exited with {code}, {time.monotonic() - stopped:.2f}s after SIGTERM")
            if code != 0:
                w.run.problems.append(f"exit code {code} after SIGTERM")
            load.stop()

        await drive(w, duration, concurrency, [(0.5, "SIGTERM sent", terminate)], load=load)
        return finish(w)


async def soak(duration: float, concurrency: int) -> Run:
    """Mixed traffic with everything healthy; RSS sampled every tenth of the run."""
    async with world("soak: mixed traffic") as w:

        async def sample() -> None:
            w.note(f"gateway RSS {w.gateway.rss() / MiB:.1f} MiB")

        timetable = [(i / 10, "sample", sample) for i in range(1, 10)]
        # the note() of each sample says it all; drop the bare "sample" entries
        await drive(w, duration, concurrency, timetable)
        w.run.events = [e for e in w.run.events if not e.endswith(" sample")]
        return finish(w)


SCENARIOS: dict[str, Callable[[float, int], Awaitable[Run]]] = {
    "redis-kill": redis_kill,
    "zendesk": zendesk_trouble,
    "sigterm": sigterm,
    "soak": soak,
}
