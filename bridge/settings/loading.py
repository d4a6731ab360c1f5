"""Reading the YAML file: duplicate keys refused, every problem reported at once.

The YAML is validated with pydantic against a strict schema (unknown keys are errors) and every
problem is reported at once, each with its key path (``targets.chat.secret: ...``). Secrets are
resolved while the file is validated, so a missing variable or file is one more problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bridge.errors import ConfigError
from bridge.settings.hints import (
    development_secret_problems,
    mistyped_target_problems,
    placeholder_problems,
    unknown_key_hint,
)
from bridge.settings.root import Settings
from bridge.targets.registry import TARGET_TYPES


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        # discriminated unions add the tag to the path: targets.chat.zendesk_chat.secret
        if i == 2 and loc[0] == "targets" and part in TARGET_TYPES:
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        parts.append(str(part))
    return ".".join(parts) or "(top level)"


def _lines(errors: list[ErrorDetails], prefix: tuple[int | str, ...] = ()) -> list[str]:
    problems = []
    for err in errors:
        loc = (*prefix, *err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message += unknown_key_hint(loc)
        problems.append(f"{_location(loc)}: {message}")
    return problems


def format_validation_error(exc: ValidationError) -> list[str]:
    """One ``path: message`` line per problem; never includes the offending input. An unknown
    key names the nearest valid one."""
    return _lines(exc.errors(include_input=False, include_url=False))


def _schema_problems(
    exc: ValidationError, data: dict[str, Any], context: dict[str, Any]
) -> list[str]:
    """Every problem; a target whose ``type`` is mistyped is checked as the nearest type."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = err["loc"]
        if err["type"] == "union_tag_invalid" and len(loc) == 2 and loc[0] == "targets":
            line, found = mistyped_target_problems(data, str(loc[1]), context)
            problems.append(line)
            for more in found:
                problems += _lines(more.errors(include_input=False, include_url=False), loc)
        else:
            problems += _lines([err])
    return problems


def parse_settings(
    data: Any,
    *,
    base_dir: Path | str = ".",
    environ: Mapping[str, str] | None = None,
    refuse_placeholders: bool = False,
    production: bool = False,
) -> Settings:
    """Validate already-parsed YAML; raise :class:`ConfigError` listing every problem.

    ``refuse_placeholders`` (every config file :func:`load_settings` reads): placeholders left
    in the file or its secrets, and the example's development secrets on a non-loopback
    address, are problems too. ``production``: checked as if the listener were public.
    """
    if not isinstance(data, dict):
        raise ConfigError(["(top level): the configuration must be a mapping"])
    environ = os.environ if environ is None else environ
    context: dict[str, Any] = {"base_dir": Path(base_dir), "environ": environ}
    if isinstance(data.get("targets"), dict):
        context["target_names"] = set(data["targets"])
    problems = []
    if refuse_placeholders:
        problems += placeholder_problems(data, base_dir=Path(base_dir), environ=environ)
    try:
        settings = Settings.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(problems + _schema_problems(exc, data, context)) from None
    problems += settings.cross_problems()
    if refuse_placeholders:
        problems += development_secret_problems(settings, production=production)
    if production and settings.demo.enabled:
        problems.append(
            "demo.enabled: the demo page mints login cookies (development only); "
            "--production refuses it"
        )
    if problems:
        raise ConfigError(problems)
    return settings


def load_settings(
    path: Path | str, *, environ: Mapping[str, str] | None = None, production: bool = False
) -> Settings:
    """Read and validate the YAML file at ``path`` (``production``: as if the listener were
    public, so any development secret is a problem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from None
    return parse_settings(
        data, base_dir=path.parent, environ=environ, refuse_placeholders=True, production=production
    )
