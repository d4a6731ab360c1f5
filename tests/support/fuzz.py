"""Shared Hypothesis settings for the ``test_fuzz_*`` modules.

Example counts are sized for CI (the whole fuzz run takes well under a minute); set
``BRIDGE_FUZZ_SCALE=N`` to run N times as many, e.g. ``BRIDGE_FUZZ_SCALE=20`` before a release.
No deadline: wall time is never asserted in pytest. Add ``--hypothesis-show-statistics`` to
pytest to see how many examples each test ran.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("BRIDGE_FUZZ_SCALE", "1")))


def fuzz(examples: int) -> settings:
    """``examples`` (times ``BRIDGE_FUZZ_SCALE``), no deadline; a test may share one app across
    examples (a function-scoped fixture), which is intended here."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
