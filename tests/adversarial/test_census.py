"""The suite is as large and as broad as the issue asks, and its ids are unambiguous."""

from __future__ import annotations

from pathlib import Path

from tests.adversarial.census import _input_of, families, main, outcomes

#: every family the issue names, at a useful size
MINIMUM = {
    "alg": 20,
    "signature": 15,
    "header": 25,
    "encoding": 35,
    "claims": 25,
    "sub": 20,
    "iss-aud": 15,
    "email": 15,
    "cookie": 15,
    "origin": 15,
    "http": 30,
    "forwarding": 10,
}


def test_every_family_is_there_with_enough_inputs() -> None:
    counts = {family: len(ids) for family, ids in families().items()}
    assert set(counts) == set(MINIMUM)
    for family, minimum in MINIMUM.items():
        assert counts[family] >= minimum, family
    assert sum(counts.values()) >= 100


def test_ids_are_distinct_across_families() -> None:
    ids = [ident for idents in families().values() for ident in idents]
    assert len(ids) == len(set(ids))


def test_test_ids_map_back_to_their_input() -> None:
    ids = {"alg-none": "alg", "alg-none-signed": "alg"}
    assert _input_of("alg-none-signed", ids) == "alg-none-signed"
    assert _input_of("/generate/token-alg-none", ids) == "alg-none"
    assert _input_of("alg-none-signed-/v1/targets/messaging/token", ids) == "alg-none-signed"
    assert _input_of("unrelated", ids) is None


def test_outcomes_read_a_junit_file(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        "<testsuites><testsuite>"
        '<testcase name="test_a[email-empty]"/>'
        '<testcase name="test_b[email-nul]"><failure/></testcase>'
        '<testcase name="test_c[email-nul]"/>'
        '<testcase name="test_d[/generate/token-enc-leading-space]"><skipped/></testcase>'
        '<testcase name="test_e[enc-leading-space]"/>'
        "</testsuite></testsuites>"
    )
    assert outcomes(str(junit)) == {
        "email-empty": "passed",
        "email-nul": "failed",
        "enc-leading-space": "passed",
    }
    assert main([str(junit)]) == 1  # not every input got its answer
