"""Settings mistakes as one line each, naming where the mistake is: the file, the section and the key.

A person who misspells a key, or breaks the TOML, needs to be told which line of which file to fix, with the
nearest known key when it looks like a typo, and nothing else: no traceback, and never the value given
(it may be a password).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

ENV_PREFIX = "NMSS_"
ENV_NESTING = "__"

_TOML_POSITION = re.compile(r"^(?P<what>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$")


class SettingsError(ValueError):
    """Raised when the settings cannot be read; ``problems`` holds one line per mistake."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def toml_syntax_error(file: Path, error: tomllib.TOMLDecodeError) -> SettingsError:
    """One line with the file, line and column of a TOML syntax error.

    ``TOMLDecodeError`` carries its position only in its message before Python 3.14, "… (at line 3,
    column 7)", so the message is taken apart.
    """
    message = str(error)
    match = _TOML_POSITION.match(message)
    if match is None:
        return SettingsError([f"{file}: not valid TOML: {message}"])
    if match["line"] is None:
        return SettingsError([f"{file}, at the end: not valid TOML: {match['what']}"])
    return SettingsError([f"{file}, line {match['line']}, column {match['column']}: not valid TOML: {match['what']}"])


def validation_problems(
    error: ValidationError,
    model: type[BaseModel],
    *,
    file: Path,
    file_data: Mapping[str, Any],
    environ: Mapping[str, str],
) -> SettingsError:
    """One line per error pydantic found, saying whether the file or an ``NMSS_…`` variable holds it."""
    return SettingsError([_describe(details, model, file, file_data, environ) for details in error.errors()])


def _describe(
    details: ErrorDetails, model: type[BaseModel], file: Path, data: Mapping[str, Any], environ: Mapping[str, str]
) -> str:
    loc = tuple(details["loc"])
    origin = _origin(loc, file, data, environ)
    if details["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
        parent, key = loc[:-1], loc[-1]
        known = sorted(_fields_at(model, parent))
        nearest = difflib.get_close_matches(key, known, n=1)
        if isinstance(details.get("input"), Mapping):
            section = _section(loc)
            hint = f" (did you mean [{_section((*parent, nearest[0]))}]?)" if nearest else ""
            return f"{origin}: unknown section [{section}]{hint}"
        hint = f' (did you mean "{nearest[0]}"?)' if nearest else ""
        return f'{origin}: {_where(parent)}unknown key "{key}"{hint}'
    message = details["msg"].removeprefix("Value error, ")
    if not loc or (details["type"] == "value_error" and _fields_at(model, loc)):  # a check across a section
        return f"{origin}: {_where(loc)}{message}"
    return f"{origin}: {_where(loc[:-1])}{loc[-1]}: {message}"


def _origin(loc: tuple[int | str, ...], file: Path, data: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """Who gave the value: an environment variable wins over the file, as it does when settings are read."""
    names = {name.upper(): name for name in environ if name.upper().startswith(ENV_PREFIX)}
    for depth in range(len(loc), 0, -1):
        candidate = ENV_PREFIX + ENV_NESTING.join(str(part) for part in loc[:depth]).upper()
        if candidate in names:
            return f"environment variable {names[candidate]}"
    if _holds(data, loc[:1]):
        return str(file)
    return "settings"


def _holds(data: Mapping[str, Any], loc: tuple[int | str, ...]) -> bool:
    return all(isinstance(part, str) and part in data for part in loc)


def _where(section: tuple[int | str, ...]) -> str:
    return f"[{_section(section)}] " if section else ""


def _section(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _fields_at(model: type[BaseModel], path: tuple[int | str, ...]) -> set[str]:
    """The keys the section at ``path`` takes, found by walking the settings models down that path."""
    current: type[BaseModel] = model
    for part in path:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return set()
        current = annotation
    return set(current.model_fields)
