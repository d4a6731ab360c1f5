"""How many hostile inputs each family has, and how many got their expected answer.

    PYTHONPATH=. python -m tests.adversarial.census                  # counts per family
    PYTHONPATH=. pytest -q --junitxml=/tmp/adv.xml tests/test_hostile_tokens.py \\
        tests/test_api_hostile_tokens.py tests/adversarial
    PYTHONPATH=. python -m tests.adversarial.census /tmp/adv.xml     # ... and how many passed

An input "got its expected answer" when every test run with it passed (the token table runs
each token through the verifier and through both token endpoints) and none was skipped for
every run.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence

from tests.adversarial import (
    test_cookies,
    test_email,
    test_forwarding,
    test_http_layer,
    test_origins,
)
from tests.unit.login.test_hostile_tokens import CASES as TOKEN_CASES

MODULES = (test_email, test_cookies, test_origins, test_http_layer, test_forwarding)
_PARAMS = re.compile(r"\[(.*)\]$")


def families() -> dict[str, list[str]]:
    """Family name -> the ids of its hostile inputs, in table order."""
    found: dict[str, list[str]] = defaultdict(list)
    for case in TOKEN_CASES:
        found[case.family].append(case.id)
    for module in MODULES:
        found[module.FAMILY].extend(module.IDS)
    return dict(found)


def _input_of(params: str, ids: dict[str, str]) -> str | None:
    """The input id among a test's parameters (``/generate/token-alg-none`` -> ``alg-none``)."""
    best = None
    for ident in ids:
        matches = params == ident or params.endswith("-" + ident) or params.startswith(ident + "-")
        if matches and (best is None or len(ident) > len(best)):
            best = ident
    return best


def outcomes(junit_path: str) -> dict[str, str]:
    """Input id -> ``passed``, ``failed`` or ``skipped`` (failed wins, then passed)."""
    ids = {ident: family for family, idents in families().items() for ident in idents}
    verdict: dict[str, str] = {}
    for testcase in ET.parse(junit_path).getroot().iter("testcase"):  # noqa: S314
        match = _PARAMS.search(testcase.get("name", ""))
        ident = _input_of(match.group(1), ids) if match else None
        if ident is None:
            continue
        if testcase.find("failure") is not None or testcase.find("error") is not None:
            result = "failed"
        elif testcase.find("skipped") is not None:
            result = "skipped"
        else:
            result = "passed"
        previous = verdict.get(ident)
        if previous != "failed" and not (previous == "passed" and result == "skipped"):
            verdict[ident] = result
    return verdict


def main(argv: Sequence[str]) -> int:
    table = families()
    verdict = outcomes(argv[0]) if argv else {}
    total = answered = 0
    print(f"{'family':12} {'inputs':>6}" + (f" {'expected answer':>16}" if verdict else ""))
    for family, idents in table.items():
        ok = sum(verdict.get(ident) == "passed" for ident in idents)
        total += len(idents)
        answered += ok
        print(f"{family:12} {len(idents):6}" + (f" {ok:16}" if verdict else ""))
    print(f"{'total':12} {total:6}" + (f" {answered:16}" if verdict else ""))
    return 0 if not verdict or answered == total else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
