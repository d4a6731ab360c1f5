"""docs/configuration.md documents every key of the configuration file, and no key that is gone.

The settings models are walked from :class:`bridge.settings.Settings` alone (nothing else of
the package is imported: module paths behind it may change), recursing into every field whose
annotation holds a pydantic model, through ``Optional``, unions, ``Annotated``, ``list`` and
``dict``. Each model found is at a *key path*, in the notation the page explains:

* ``redis.sentinel``: nested sections, joined with dots (the top level is the empty path);
* ``upstream.secrets[]``: the items of a list;
* ``targets.<name>``: the values of a mapping whose keys the operator chooses;
* ``targets.<name>`` with ``type: zipchat``: one member of a discriminated union, named by its
  discriminator (which also qualifies every path below it).

A model at path ``P`` is documented by the section (a Markdown heading and what follows it up
to the next heading) whose heading names `` `P` `` in backticks, plus the member's
`` `type: ...` `` for a union member; the top level's heading says "top level". A model used at
several paths (a secret) may instead have one section whose heading names its shape, each of
its keys as `` `{key}` ``. In that section every key of the model must be a table row
(`` | `key` | type | default | limits | meaning | ``; only the limits may be empty), with:

* the default as YAML in backticks (`` `20` ``, `` `null` ``, `` `[HS256]` ``), or "required";
* every numeric bound of the field (``ge``, ``gt``, ``le``, ``lt``, lengths) in the limits;
* a meaning.

Rows naming keys the model does not have fail too, so the page cannot keep a removed key.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bridge.settings.root import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ROOT_HEADING = "top level"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


@dataclass(frozen=True)
class Place:
    """Where a settings model sits in the file."""

    path: str
    model: type[BaseModel]
    #: the discriminator of a union member, e.g. ``type: zipchat``; empty otherwise
    qualifier: str = ""

    def label(self, key: str = "") -> str:
        dotted = ".".join(part for part in (self.path, key) if part)
        return f"{dotted} ({self.qualifier})" if self.qualifier else dotted


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _discriminator(model: type[BaseModel]) -> str:
    """``field: value`` for the field of ``model`` fixed to one literal (a union's tag)."""
    for name, field in model.model_fields.items():
        if get_origin(field.annotation) is Literal and len(get_args(field.annotation)) == 1:
            return f"{name}: {get_args(field.annotation)[0]}"
    raise AssertionError(f"{model.__name__} is in a union of models but has no literal tag")


def _places(annotation: object, path: str, qualifier: str = "") -> Iterator[Place]:
    """Every model inside ``annotation``, which sits at ``path``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if _is_model(annotation):
        model = typing.cast(type[BaseModel], annotation)
        yield Place(path, model, qualifier)
        for name, field in model.model_fields.items():
            yield from _places(field.annotation, f"{path}.{name}" if path else name, qualifier)
    elif origin is Annotated:
        yield from _places(args[0], path, qualifier)
    elif origin is Union or origin is types.UnionType:
        models = [arg for arg in args if _is_model(arg) or get_origin(arg) is Annotated]
        members = [arg for arg in args if _is_model(arg)]
        for arg in models:
            tag = _discriminator(arg) if len(members) > 1 and _is_model(arg) else qualifier
            yield from _places(arg, path, tag)
    elif origin in (list, tuple, set, frozenset):
        for arg in args:
            yield from _places(arg, f"{path}[]", qualifier)
    elif origin is dict:
        yield from _places(args[1], f"{path}.<name>", qualifier)


def places() -> list[Place]:
    return list(_places(Settings, ""))


@dataclass(frozen=True)
class Section:
    heading: str
    rows: dict[str, list[str]]


def sections(text: str) -> list[Section]:
    """The page's sections; headings and rows inside code fences do not count."""
    found: list[Section] = []
    heading: str | None = None
    rows: dict[str, list[str]] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("#"):
            if heading is not None:
                found.append(Section(heading, rows))
            heading, rows = line.lstrip("#").strip(), {}
            continue
        match = ROW.match(line)
        if heading is not None and match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    if heading is not None:
        found.append(Section(heading, rows))
    return found


def section_for(place: Place, shared: bool, found: list[Section]) -> Section | None:
    for section in found:
        heading = section.heading
        if place.path == "":
            named = ROOT_HEADING in heading.lower()
        else:
            named = f"`{place.path}`" in heading
        if named and (not place.qualifier or f"`{place.qualifier}`" in heading):
            return section
    if shared:
        for section in found:
            if all(f"`{{{key}}}`" in section.heading for key in place.model.model_fields):
                return section
    return None


def yaml_scalar(value: object) -> str | None:
    """``value`` as it is written in the YAML file, or None when it is not a plain value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return None


def default_text(field: FieldInfo) -> str | None:
    """The default as the page must show it; None when it is not checked (a whole section)."""
    if field.is_required():
        return "required"
    value: Any = field.get_default(call_default_factory=True)
    if isinstance(value, list):
        items = [yaml_scalar(item) for item in value]
        if any(item is None for item in items):
            return None
        return "`[" + ", ".join(typing.cast(list[str], items)) + "]`"
    scalar = yaml_scalar(value)
    return None if scalar is None else f"`{scalar}`"


def bounds(field: FieldInfo) -> list[str]:
    """Every numeric limit of the field, as the page must name it."""
    found: list[object] = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Le):
            found.append(item.ge if isinstance(item, annotated_types.Ge) else item.le)
        elif isinstance(item, annotated_types.Gt | annotated_types.Lt):
            found.append(item.gt if isinstance(item, annotated_types.Gt) else item.lt)
        elif isinstance(item, annotated_types.MinLen | annotated_types.MaxLen):
            found.append(
                item.min_length if isinstance(item, annotated_types.MinLen) else item.max_length
            )
    return [text for value in found if (text := yaml_scalar(value)) is not None]


def mentions(cell: str, number: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(number)}(?![\w]|\.\d)", cell) is not None


def problems() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    found = sections(text)
    every = places()
    paths_of: dict[type[BaseModel], set[str]] = {}
    for place in every:
        paths_of.setdefault(place.model, set()).add(place.label())
    wrong: list[str] = []
    for place in every:
        shared = len(paths_of[place.model]) > 1
        section = section_for(place, shared, found)
        fields = place.model.model_fields
        if section is None:
            wrong.extend(f"{place.label(key)}: no section documents it" for key in fields)
            continue
        for key, field in fields.items():
            label = place.label(key)
            cells = section.rows.get(key)
            if cells is None:
                wrong.append(f"{label}: no row `{key}` in section {section.heading!r}")
                continue
            if len(cells) != 4 or not all(cells[i] for i in (0, 1, 3)):
                wrong.append(f"{label}: the row needs a type, a default, limits and a meaning")
                continue
            _, default, limits, _ = cells
            expected = default_text(field)
            if expected is not None and expected not in default:
                wrong.append(f"{label}: the default should say {expected}, not {default!r}")
            for number in bounds(field):
                if not mentions(limits, number):
                    wrong.append(f"{label}: the limits should name {number}, not {limits!r}")
        for key in section.rows.keys() - fields.keys():
            wrong.append(f"{place.label(key)}: documented, but there is no such key")
    return sorted(set(wrong))


def test_the_walk_finds_nested_sections_lists_and_union_members() -> None:
    labels = {place.label() for place in places()}
    assert {
        "",
        "redis.sentinel",
        "redis.cluster",
        "upstream.secrets[]",
        "targets.<name> (type: zipchat)",
        "targets.<name>.private_key (type: zipchat)",
        "rate_limits.per_address",
    } <= labels


def test_every_configuration_key_is_documented() -> None:
    missing = problems()
    assert not missing, "docs/configuration.md is out of date:\n" + "\n".join(missing)
