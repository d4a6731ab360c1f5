"""What ``bridge check-config`` (and every load of a config file) says beyond the schema.

* an unknown key names the nearest valid one (:func:`unknown_key_hint`);
* a mistyped target ``type`` is checked as the nearest type, so the entry's other problems are
  not hidden behind it (:func:`mistyped_target_problems`);
* placeholders left in a file (``REPLACE-ME...``, ``SUBDOMAIN``) are refused, in the file and
  in the secrets it names (:func:`placeholder_problems`);
* the example file's development secrets are public, so they are refused whenever requests
  may come from beyond the machine: a listener that is not loopback-only, a trusted proxy, a
  public URL, or ``check-config --production`` (:func:`development_secret_problems`).

No message ever contains a secret or the offending value.
"""

from __future__ import annotations

import difflib
import hashlib
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from bridge.settings.base import SecretSource
from bridge.settings.root import Settings
from bridge.settings.server import _is_loopback
from bridge.targets.registry import TARGET_TYPES, Target

#: marks every development secret of the example configuration
DEVELOPMENT_MARK = b"DEVELOPMENT-ONLY"
#: SHA-256 of the example's development Zipchat key (its public key, DER), which is public
DEVELOPMENT_KEYS = frozenset({"6a4c198350d0263f20c5686e24d408dd4e7805c0cd8a782743debbac69feadb6"})
_PLACEHOLDERS = {
    "REPLACE-ME": "a placeholder (REPLACE-ME...) is left here: put the real value",
    "SUBDOMAIN": "the placeholder SUBDOMAIN is left here: put your Zendesk subdomain",
}


def nearest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


# --- unknown keys -------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """The annotation without Annotated and None; a list for a union of several."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return members
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tag(model: type[BaseModel]) -> object:
    field = model.model_fields.get("type")
    args = get_args(field.annotation) if field is not None else ()
    return args[0] if args else None


def keys_at(loc: tuple[int | str, ...]) -> list[str] | None:
    """The valid keys of the mapping at ``loc`` (a pydantic error location), when known."""
    annotation: Any = Settings
    parts = [p for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    index = 0
    while True:
        annotation = _unwrap(annotation)
        if isinstance(annotation, list):  # a union: its member named by the tag, or its model
            models = [m for m in annotation if _is_model(m)]
            tagged = [m for m in models if index < len(parts) and _tag(m) == parts[index]]
            if tagged:
                annotation, index = tagged[0], index + 1
            elif len(models) == 1:
                annotation = models[0]
            else:
                return None
            continue
        if index == len(parts):
            return list(annotation.model_fields) if _is_model(annotation) else None
        part = parts[index]
        index += 1
        if _is_model(annotation):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) in (list, tuple):
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return None


def unknown_key_hint(loc: tuple[int | str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the unknown key at ``loc``, or the valid keys."""
    keys = keys_at(loc[:-1])
    if not keys:
        return ""
    suggestion = nearest(str(loc[-1]), keys)
    if suggestion is not None:
        return f" (unknown key; did you mean {suggestion!r}?)"
    return f" (unknown key; valid here: {', '.join(keys)})"


# --- a mistyped target type ---------------------------------------------------------------


def mistyped_target_problems(
    data: Mapping[str, Any], name: str, context: Mapping[str, Any]
) -> tuple[str, list[ValidationError]]:
    """For ``targets.<name>`` whose ``type`` is no target type: the line that says so, and the
    entry's problems when checked as the nearest type (nothing to add when it has none)."""
    entry = data["targets"][name]
    given = entry.get("type") if isinstance(entry, dict) else None
    guess = nearest(str(given), TARGET_TYPES) if isinstance(given, str) else None
    line = f"targets.{name}.type: {given!r} is not a target type ({', '.join(TARGET_TYPES)})"
    if guess is None:
        return line, []
    line += f"; did you mean {guess!r}? (checked as {guess})"
    try:
        TypeAdapter(Target).validate_python({**entry, "type": guess}, context=dict(context))
    except ValidationError as exc:
        return line, [exc]
    return line, []


# --- placeholders and development secrets --------------------------------------------------


def _walk(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, item in data.items():
            yield from _walk(item, (*path, str(key)))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _walk(item, (*path, str(i)))


def _secret_bytes(
    source: Mapping[str, Any], base_dir: Path, environ: Mapping[str, str]
) -> bytes | None:
    """What a ``{value}``/``{env}``/``{file}`` names, best effort (the schema reports the rest)."""
    if set(source) != {"value"} and set(source) != {"env"} and set(source) != {"file"}:
        return None
    (kind, given), = source.items()  # fmt: skip
    if not isinstance(given, str):
        return None
    if kind == "value":
        return None  # scanned as text already
    if kind == "env":
        value = environ.get(given)
        return None if value is None else value.encode()
    path = Path(given) if Path(given).is_absolute() else base_dir / given
    try:
        return path.read_bytes()
    except OSError:
        return None


def placeholder_problems(data: Any, *, base_dir: Path, environ: Mapping[str, str]) -> list[str]:
    """One line per placeholder left in the file, or in a secret (env or file) it names."""
    problems = []
    for path, item in _walk(data):
        where = ".".join(path) or "(top level)"
        texts: list[str] = []
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            raw = _secret_bytes(item, base_dir, environ)
            if raw is not None:
                texts.append(raw.decode("utf-8", "replace"))
        for text in texts:
            for mark, message in _PLACEHOLDERS.items():
                if mark in text:
                    problems.append(f"{where}: {message}")
    return problems


def _secrets(model: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, SecretSource]]:
    if isinstance(model, SecretSource):
        yield ".".join(path), model
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from _secrets(getattr(model, name), (*path, name))
    elif isinstance(model, dict):
        for key, item in model.items():
            yield from _secrets(item, (*path, str(key)))
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            yield from _secrets(item, (*path, str(i)))


def _is_development(raw: bytes) -> bool:
    if DEVELOPMENT_MARK in raw:
        return True
    if b"PRIVATE KEY" not in raw:
        return False
    try:
        key = load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        return False
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest() in DEVELOPMENT_KEYS


def loopback_only(settings: Settings) -> bool:
    """Whether every port the gateway opens is on a loopback address."""
    metrics = settings.metrics
    return _is_loopback(settings.server.host) and (
        metrics.port is None or _is_loopback(metrics.host)
    )


def exposure(settings: Settings, *, production: bool = False) -> str | None:
    """Why requests may come from beyond this machine (None when they cannot): a listener that
    is not loopback-only, a trusted proxy, a public URL, or ``--production``."""
    if production:
        return "--production checks as for a public listener"
    if not loopback_only(settings):
        return "the gateway listens beyond loopback"
    if settings.rate_limits.trusted_proxies:
        return "rate_limits.trusted_proxies is set (requests come through a proxy)"
    if settings.server.public_url is not None:
        return "server.public_url is set (browsers reach the gateway from outside)"
    return None


def development_secrets(settings: Settings) -> list[str]:
    """Where the example file's public development secrets are used (config key paths)."""
    return [
        where for where, source in _secrets(settings) if _is_development(source.secret.reveal())
    ]


def development_secret_problems(settings: Settings, *, production: bool = False) -> list[str]:
    """The example file's public development secrets, one line each, refused whenever requests
    may come from beyond this machine (:func:`exposure`)."""
    why = exposure(settings, production=production)
    if why is None:
        return []
    return [
        f"{where}: a public development secret of the example configuration, refused because "
        f"{why}; give your own ({{env: NAME}} or {{file: PATH}})"
        for where in development_secrets(settings)
    ]
