"""The four forms as data.

Every label, alias, requirement and option list lives in the TOML files under ``config/forms/`` so the team
can follow the real templates without a code change. This module reads them into frozen dataclasses and
checks them once, at load time, so a typo in a file is a clear error at start-up rather than a silent miss.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

FormKind = Literal["form1", "form2", "miat", "mar"]
"""The four forms the service reads, in the order the team thinks of them."""

FORM_KINDS: tuple[FormKind, ...] = get_args(FormKind)

FieldType = Literal[
    "text",
    "multiline",
    "enum",
    "date",
    "integer",
    "score",
    "yesno",
    "checks",
    "nhs_number",
    "postcode",
    "phone",
    "email",
    "ods_gp",
    "ods_pharmacy",
    "ods_supplier",
    "gphc",
]
FIELD_TYPES: frozenset[str] = frozenset(get_args(FieldType))

Requirement = Literal["R", "O", "C"]

ConditionValue = str | bool


class FormDefinitionError(ValueError):
    """Raised when a file under config/forms/ is not a valid form definition; the message names file and key."""


@dataclass(frozen=True)
class Option:
    """One choice of an enum or one box of a tick list: ``code`` is what the service stores."""

    code: str
    text: str


@dataclass(frozen=True)
class Condition:
    """``field``'s value is one of ``values`` (for a tick list: any of them is ticked)."""

    field: str
    values: tuple[ConditionValue, ...]

    def holds(self, fields: Mapping[str, object]) -> bool:
        value = fields.get(self.field)
        if isinstance(value, (list, tuple)):
            return any(v in self.values for v in value)
        return value is not None and value in self.values


@dataclass(frozen=True)
class FieldDefinition:
    """One field of one form, with everything the parser and the rules need to know about it."""

    key: str
    label: str
    type: FieldType
    required: Requirement = "O"
    aliases: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    when: Condition | None = None
    must_be: bool | None = None
    not_future: bool = False
    past_only: bool = False
    min: int | None = None
    max: int | None = None
    allow_na: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        """The printed label first, then the aliases."""
        return (self.label, *self.aliases)

    def is_required(self, fields: Mapping[str, object]) -> bool:
        """Whether this field must have a value, given the other values on the same form."""
        if self.required == "R":
            return True
        if self.required == "C" and self.when is not None:
            return self.when.holds(fields)
        return False

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


@dataclass(frozen=True)
class FormDefinition:
    """A form: how to recognise it and its fields in printed order."""

    kind: FormKind
    name: str
    title: str
    title_phrases: tuple[str, ...]
    filename_patterns: tuple[re.Pattern[str], ...]
    fields: tuple[FieldDefinition, ...]
    _by_key: Mapping[str, FieldDefinition] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {f.key: f for f in self.fields})

    def field(self, key: str) -> FieldDefinition | None:
        return self._by_key.get(key)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._by_key)


@dataclass(frozen=True)
class FormDefinitions:
    """All four definitions, looked up by kind."""

    forms: Mapping[FormKind, FormDefinition]

    def __getitem__(self, kind: FormKind) -> FormDefinition:
        return self.forms[kind]

    def __iter__(self) -> Iterator[FormDefinition]:
        return iter(self.forms.values())

    def __len__(self) -> int:
        return len(self.forms)


def normalise_title(text: str) -> str:
    """Fold case, dashes, slashes and punctuation to single spaces, as titles are compared."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def load_form_definitions(directory: Path | None = None) -> FormDefinitions:
    """Read ``common.toml`` and one file per form from ``directory`` (default: the packaged definitions)."""
    if directory is None:
        with resources.as_file(resources.files("config") / "forms") as packaged:
            return _load(Path(packaged))
    return _load(directory)


def _load(directory: Path) -> FormDefinitions:
    common = _read(directory / "common.toml")
    option_sets = {name: tuple(_option(o) for o in options) for name, options in common.get("option_sets", {}).items()}
    shared = {raw["key"]: raw for raw in common.get("fields", [])}
    forms: dict[FormKind, FormDefinition] = {}
    for kind in FORM_KINDS:
        path = directory / f"{kind}.toml"
        raw = _read(path)
        if raw.get("kind") != kind:
            raise FormDefinitionError(f"{path.name}: kind must be {kind!r}")
        fields = []
        for entry in raw.get("fields", []):
            if "use" in entry:
                if entry["use"] not in shared:
                    raise FormDefinitionError(f"{path.name}: no shared field {entry['use']!r} in common.toml")
                entry = {**shared[entry["use"]], **{k: v for k, v in entry.items() if k != "use"}}
            fields.append(_field(entry, option_sets, path.name))
        keys = [f.key for f in fields]
        if len(keys) != len(set(keys)):
            raise FormDefinitionError(f"{path.name}: a key is defined twice")
        for f in fields:
            if f.when is not None and f.when.field not in keys:
                raise FormDefinitionError(f"{path.name}: {f.key} depends on unknown field {f.when.field!r}")
        forms[kind] = FormDefinition(
            kind=kind,
            name=raw["name"],
            title=raw["title"],
            title_phrases=tuple(normalise_title(p) for p in raw.get("title_phrases", [raw["title"]])),
            filename_patterns=tuple(re.compile(p, re.IGNORECASE) for p in raw.get("filename_patterns", [])),
            fields=tuple(fields),
        )
    return FormDefinitions(forms)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FormDefinitionError(f"{path.name}: {exc}") from exc


def _option(raw: str | Mapping[str, str]) -> Option:
    if isinstance(raw, str):
        return Option(code=raw, text=raw)
    return Option(code=raw["code"], text=raw["text"])


def _field(raw: Mapping[str, Any], option_sets: Mapping[str, tuple[Option, ...]], source: str) -> FieldDefinition:
    key = raw.get("key")
    if not key or "label" not in raw:
        raise FormDefinitionError(f"{source}: every field needs a key and a label ({raw!r})")
    if raw.get("type") not in FIELD_TYPES:
        raise FormDefinitionError(f"{source}: {key} has unknown type {raw.get('type')!r}")
    if raw.get("required", "O") not in ("R", "O", "C"):
        raise FormDefinitionError(f"{source}: {key} required must be R, O or C")
    options: tuple[Option, ...] = tuple(_option(o) for o in raw.get("options", []))
    if "option_set" in raw:
        if raw["option_set"] not in option_sets:
            raise FormDefinitionError(f"{source}: {key} names unknown option set {raw['option_set']!r}")
        options = option_sets[raw["option_set"]]
    if raw["type"] in ("enum", "checks") and not options:
        raise FormDefinitionError(f"{source}: {key} is a {raw['type']} with no options")
    when = None
    if "when" in raw:
        when = Condition(field=raw["when"]["field"], values=tuple(raw["when"]["is"]))
    if raw.get("required") == "C" and when is None:
        raise FormDefinitionError(f"{source}: {key} is conditional but has no 'when'")
    return FieldDefinition(
        key=key,
        label=raw["label"],
        type=raw["type"],
        required=raw.get("required", "O"),
        aliases=tuple(raw.get("aliases", ())),
        options=options,
        when=when,
        must_be=raw.get("must_be"),
        not_future=bool(raw.get("not_future", False)),
        past_only=bool(raw.get("past_only", False)),
        min=raw.get("min"),
        max=raw.get("max"),
        allow_na=bool(raw.get("allow_na", False)),
    )
