"""``bridge --help`` reads as plain text."""

from __future__ import annotations

import pytest

from bridge.__main__ import main


def test_help_has_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "identity-bridge gateway" in text
    assert "``" not in text


def test_check_config_help_offers_production(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check-config", "--help"])
    assert "--production" in capsys.readouterr().out
