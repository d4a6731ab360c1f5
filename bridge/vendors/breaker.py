"""A circuit breaker for calls to a vendor API.

Closed -> (``failures`` consecutive failures) -> open for ``cooldown`` seconds -> half-open: one
trial call; its success closes the breaker, its failure reopens it. While open, calls fail at
once with :class:`~bridge.errors.CircuitOpen` and a ``retry_after``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Literal

from bridge.errors import CircuitOpen
from bridge.metrics import BreakerState


def vendor_logger(vendor: str) -> logging.Logger:
    """The logger of what happens in the calls to ``vendor``: ``bridge.{vendor}``."""
    return logging.getLogger(f"bridge.{vendor}")


Clock = Callable[[], float]

#: the longest ``Retry-After`` we pass on to our own callers (seconds)
MAX_RETRY_AFTER = 300


def retry_after(seconds: float) -> int:
    """Whole seconds for a ``Retry-After``: at least 1, at most :data:`MAX_RETRY_AFTER`."""
    return max(1, min(MAX_RETRY_AFTER, math.ceil(seconds)))


class CircuitBreaker:
    """Closed -> (``failures`` consecutive failures) -> open for ``cooldown`` seconds ->
    half-open: one trial call; its success closes the breaker, its failure reopens it."""

    def __init__(
        self,
        *,
        failures: int,
        cooldown: float,
        clock: Clock = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        #: told each new state (for the breaker gauge); half-open is reported when a trial starts
        self._on_change = on_change
        self._log = logger or logging.getLogger("bridge.vendors")
        self._failures = 0
        self._open_until: float | None = None
        self._trial = False

    @property
    def state(self) -> Literal["closed", "open", "half-open"]:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half-open"

    def check(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go out now."""
        if self._open_until is None:
            return
        now = self._clock()
        if now < self._open_until or self._trial:
            raise CircuitOpen(retry_after=retry_after(self._open_until - now))
        self._trial = True
        self._changed("half-open")

    def success(self) -> None:
        was_open = self._open_until is not None
        self._failures = 0
        self._open_until = None
        self._trial = False
        if was_open:
            self._changed("closed")

    def failure(self) -> None:
        self._failures += 1
        if self._trial or self._failures >= self._threshold:
            if self._open_until is None or not self._trial:
                self._log.warning("circuit breaker open for %.0fs", self._cooldown)
            self._open_until = self._clock() + self._cooldown
            self._changed("open")
        self._trial = False

    def _changed(self, state: BreakerState) -> None:
        if self._on_change is not None:
            self._on_change(state)

    def abandon(self) -> None:
        """The call ended without a verdict (cancelled): let another trial through."""
        self._trial = False
