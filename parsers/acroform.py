"""Reading the fillable fields of a PDF (its AcroForm) and mapping them onto the keys of a form definition.

:func:`read_acroform` walks the field tree as pdfminer gives it and returns every terminal field with its
fully qualified name (the ``/T`` of each ancestor joined by "."), its kind and its value.
:func:`map_fields` then finds our keys among those names, following forms-spec.md ("How a form looks on
paper"): a field named ``KEY``; a tick-list box named ``KEY.CODE``; a yes/no pair ``KEY.yes``/``KEY.no``.

The tree comes from files nobody here wrote, so neither function trusts it: reference loops, missing or
mistyped entries and absurd depths end the walk of that branch quietly instead of raising or looping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from pdfminer.pdftypes import PDFObjRef, PDFStream
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text

from config.forms import FieldDefinition, FormDefinition
from parsers.geometry import Rect, rect
from parsers.types import FieldError, Found, Place
from parsers.values import RawValue, match_option, parse_yes_no

FieldKind = Literal["text", "checkbox", "radio", "choice"]

_MAX_DEPTH: Final = 32
_MAX_FIELDS: Final = 20_000
_MAX_REF_HOPS: Final = 16
_RADIO: Final = 1 << 15
_PUSHBUTTON: Final = 1 << 16


@dataclass(frozen=True)
class AcroField:
    """One terminal field of a PDF form.

    ``value`` is the text of a text field ("" when empty), whether a check box is ticked, the chosen state
    of a radio group (its ``/Opt`` text where the file gives one; None when nothing is chosen), or a list
    box's selection (text, or a tuple when several are selected). ``state`` is the name a ticked check box
    is in (``Yes``, ``On`` or a custom name). ``page`` is 1-based, None when the file does not say; ``rect`` is
    where the field shows on it (its widget's ``/Rect``, in the page's user space), None when the file does not say.
    """

    name: str
    kind: FieldKind
    value: str | bool | tuple[str, ...] | None
    page: int | None = None
    state: str | None = None
    rect: Rect | None = None

    @property
    def filled(self) -> bool:
        """Whether anything was entered: text written, a box ticked, a choice made."""
        if isinstance(self.value, str):
            return bool(self.value.strip())
        return bool(self.value)


@dataclass(frozen=True)
class MappedFields:
    """The raw values of one form's keys as found in the AcroForm, ready for :func:`parsers.values.type_fields`."""

    values: dict[str, RawValue]
    found: dict[str, Found]
    errors: tuple[FieldError, ...]


def read_acroform(acroform: object, page_of: Mapping[int, int]) -> tuple[AcroField, ...]:
    """Every terminal field under the catalog's ``/AcroForm`` entry, in tree order.

    ``page_of`` maps the object number of a page, or of an annotation listed on a page, to its 1-based page
    number; it is only used to say where a field is. Push buttons and signatures are left out. Returns ()
    when there is no usable form.
    """
    form = _resolve(acroform)
    if not isinstance(form, dict):
        return ()
    roots = _resolve(form.get("Fields"))
    if not isinstance(roots, list):
        return ()
    walker = _Walker(page_of)
    for root in roots:
        walker.visit(root, "", _Inherited(), 0)
    return tuple(walker.fields)


def map_fields(
    fields: Iterable[AcroField], definition: FormDefinition, where: Callable[[AcroField], Place | None] = lambda _: None
) -> MappedFields:
    """The raw value of each of ``definition``'s keys that the fields hold.

    A key with nothing entered is absent, except a lone check box for a yes/no (unticked means No). A yes/no
    pair ``KEY.yes``/``KEY.no`` with both ticked is a FieldError "unanswered". ``where`` says where a field
    stands on its page picture, for ``Found.place``.
    """
    by_name = {f.key.lower(): f for f in definition.fields}
    values: dict[str, RawValue] = {}
    found: dict[str, Found] = {}
    ticked: dict[str, list[str]] = {}
    pairs: dict[str, dict[bool, AcroField]] = {}
    for acro in fields:
        target = by_name.get(acro.name.lower())
        if target is not None:
            raw = _direct_value(acro, target)
            if raw is not None and target.key not in values:
                values[target.key] = raw
                found[target.key] = Found(target.key, acro.page or 1, acro.name, where(acro))
            continue
        parent, _, suffix = acro.name.rpartition(".")
        target = by_name.get(parent.lower())
        if target is None or not suffix or not _is_ticked(acro):
            continue
        if target.type == "checks":
            ticked.setdefault(target.key, []).append(_option_text(suffix, target))
            found.setdefault(target.key, Found(target.key, acro.page or 1, acro.name, where(acro)))
        elif target.type == "yesno" and suffix.lower() in ("yes", "no"):
            pairs.setdefault(target.key, {}).setdefault(suffix.lower() == "yes", acro)
    for key, options in ticked.items():
        values.setdefault(key, tuple(options))
    errors: list[FieldError] = []
    for key, answers in pairs.items():
        if key in values:
            continue
        if len(answers) > 1:
            errors.append(FieldError(key, "unanswered"))
            continue
        answer, acro = next(iter(answers.items()))
        values[key] = answer
        found[key] = Found(key, acro.page or 1, acro.name, where(acro))
    return MappedFields(values=values, found=found, errors=tuple(errors))


def _direct_value(acro: AcroField, target: FieldDefinition) -> RawValue | None:
    if acro.kind == "checkbox":
        if target.type == "yesno":
            # A box whose on-state is itself "No" (two widgets sharing one name) still answers No.
            said = parse_yes_no(acro.state) if acro.state else None
            return said if said is not None and acro.value else bool(acro.value)
        if target.type == "checks" or not acro.value:
            return None
        # A group of boxes sharing one name acts as a radio group: the on-state names the choice.
        return acro.state
    if acro.value is None or isinstance(acro.value, bool):
        return None
    return acro.value


def _is_ticked(acro: AcroField) -> bool:
    if acro.kind in ("checkbox", "radio"):
        return acro.filled
    # A text box standing in for a tick box: ticked when it says so ("X", "Yes").
    if isinstance(acro.value, str):
        return parse_yes_no(acro.value) is True
    if isinstance(acro.value, tuple):
        return any(parse_yes_no(text) for text in acro.value)
    return False


def _option_text(suffix: str, target: FieldDefinition) -> str:
    option = match_option(suffix, target.options)
    # An unknown box name is passed on as written so that typing reports it as an unknown option.
    return option.code if option is not None else suffix


@dataclass(frozen=True)
class _Inherited:
    """The inheritable entries of a field dictionary (PDF 32000 12.7.3.1), as the nearest ancestor set them."""

    field_type: str | None = None
    value: object = None
    flags: int = 0
    options: object = None

    def under(self, node: Mapping[object, object]) -> _Inherited:
        flags = _resolve(node.get("Ff"))
        return _Inherited(
            field_type=_name(node.get("FT")) or self.field_type,
            value=node.get("V", self.value),
            flags=flags if isinstance(flags, int) and not isinstance(flags, bool) else self.flags,
            options=node.get("Opt", self.options),
        )


@dataclass
class _Walker:
    page_of: Mapping[int, int]
    fields: list[AcroField] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def visit(self, ref: object, prefix: str, inherited: _Inherited, depth: int) -> None:
        if depth > _MAX_DEPTH or len(self.seen) > _MAX_FIELDS:
            return
        node, objid = self._enter(ref)
        if node is None:
            return
        partial = _text(node.get("T"))
        name = f"{prefix}.{partial}" if prefix and partial else (partial or prefix)
        here = inherited.under(node)
        kids = _resolve(node.get("Kids"))
        field_kids: list[object] = []
        widgets: list[tuple[int | None, Mapping[object, object]]] = []
        for kid in kids if isinstance(kids, list) else ():
            resolved = _resolve(kid)
            if not isinstance(resolved, dict):
                continue
            if "T" in resolved:
                field_kids.append(kid)
            else:
                # A kid without a name is a widget: where this field shows on a page, not a field of its own.
                widgets.append((kid.objid if isinstance(kid, PDFObjRef) else None, resolved))
        for kid in field_kids:
            self.visit(kid, name, here, depth + 1)
        if field_kids or not name:
            return
        acro = _terminal(name, here, widgets or [(objid, node)], self.page_of)
        if acro is not None:
            self.fields.append(acro)

    def _enter(self, ref: object) -> tuple[Mapping[object, object] | None, int | None]:
        objid = ref.objid if isinstance(ref, PDFObjRef) else None
        node = _resolve(ref)
        if not isinstance(node, dict):
            return None, objid
        # Direct dictionaries cannot form a loop, but a reference can; id() covers both kinds alike.
        marker = objid if objid is not None else -id(node)
        if marker in self.seen:
            return None, objid
        self.seen.add(marker)
        return node, objid


def _terminal(
    name: str,
    inherited: _Inherited,
    widgets: list[tuple[int | None, Mapping[object, object]]],
    page_of: Mapping[int, int],
) -> AcroField | None:
    page, where = _page(widgets, page_of)
    match inherited.field_type:
        case "Tx":
            return AcroField(name, "text", _text(inherited.value) or "", page, rect=where)
        case "Ch":
            return AcroField(name, "choice", _choice(inherited.value, inherited.options), page, rect=where)
        case "Btn" if not inherited.flags & _PUSHBUTTON:
            state = _state(inherited.value, widgets)
            if inherited.flags & _RADIO:
                return AcroField(name, "radio", _option_for(state, inherited.options), page, rect=where)
            return AcroField(name, "checkbox", state is not None, page, state, rect=where)
        case _:
            return None


def _state(value: object, widgets: list[tuple[int | None, Mapping[object, object]]]) -> str | None:
    """The on-state a button is in, or None when it is off: its /V, else the appearance state of a widget."""
    resolved = _resolve(value)
    # Some writers store the state as a string "(Yes)" rather than the name /Yes.
    chosen = _text(resolved) if isinstance(resolved, bytes) else _name(resolved)
    if chosen is None:
        for _, widget in widgets:
            appearance = _name(widget.get("AS"))
            if appearance and appearance != "Off":
                chosen = appearance
                break
    return chosen if chosen and chosen != "Off" else None


def _option_for(state: str | None, options: object) -> str | None:
    """A radio group's chosen state, as the printed text in /Opt when the states are its indices."""
    opts = _resolve(options)
    if state is None or not isinstance(opts, list) or not state.isdigit():
        return state
    index = int(state)
    return (_text(opts[index]) or state) if index < len(opts) else state


def _choice(value: object, options: object) -> str | tuple[str, ...] | None:
    resolved = _resolve(value)
    printed = _printed_options(options)
    if isinstance(resolved, list):
        chosen = tuple(t for t in (_text(v) for v in resolved) if t)
        return tuple(printed.get(c, c) for c in chosen) or None
    text = _text(resolved)
    return printed.get(text, text) if text else None


def _printed_options(options: object) -> dict[str, str]:
    """Export value → printed text, for the /Opt entries given as [export, printed] pairs."""
    pairs: dict[str, str] = {}
    opts = _resolve(options)
    for entry in opts if isinstance(opts, list) else ():
        pair = _resolve(entry)
        if isinstance(pair, list) and len(pair) == 2:
            export, printed = _text(pair[0]), _text(pair[1])
            if export and printed:
                pairs[export] = printed
    return pairs


def _page(
    widgets: list[tuple[int | None, Mapping[object, object]]], page_of: Mapping[int, int]
) -> tuple[int | None, Rect | None]:
    """The page the field first shows on, and where on it (the first placed widget's ``/Rect``)."""
    for objid, widget in widgets:
        page_ref = widget.get("P")
        if isinstance(page_ref, PDFObjRef) and page_ref.objid in page_of:
            return page_of[page_ref.objid], _rect_of(widget)
        if objid is not None and objid in page_of:
            return page_of[objid], _rect_of(widget)
    return None, None


def _rect_of(widget: Mapping[object, object]) -> Rect | None:
    value = _resolve(widget.get("Rect"))
    return rect([_resolve(v) for v in value]) if isinstance(value, list) else None


def _resolve(value: object) -> object:
    """Follow indirect references a bounded number of times; a reference to itself resolves to None."""
    for _ in range(_MAX_REF_HOPS):
        if not isinstance(value, PDFObjRef):
            return value
        try:
            value = value.resolve(None)
        except Exception:  # noqa: BLE001 - a broken object is an absent one; the rest of the form may be fine
            return None
    return None


def _name(value: object) -> str | None:
    resolved = _resolve(value)
    if isinstance(resolved, PSLiteral):
        raw = resolved.name
        return raw if isinstance(raw, str) else raw.decode("latin-1")
    if isinstance(resolved, str):
        return resolved
    return None


def _text(value: object) -> str | None:
    """A PDF string as text: UTF-16 (either byte order) or UTF-8 with a byte-order mark, else PDFDocEncoding."""
    resolved = _resolve(value)
    if isinstance(resolved, PDFStream):
        # A long text value may be stored as a stream; an undecodable one is treated as empty.
        try:
            resolved = resolved.get_data()
        except Exception:  # noqa: BLE001
            return None
    if isinstance(resolved, bytes):
        if resolved.startswith(b"\xfe\xff"):
            return resolved[2:].decode("utf-16-be", "replace")
        if resolved.startswith(b"\xff\xfe"):
            return resolved[2:].decode("utf-16-le", "replace")
        if resolved.startswith(b"\xef\xbb\xbf"):
            return resolved[3:].decode("utf-8", "replace")
        try:
            return decode_text(resolved)
        except (IndexError, KeyError):
            return resolved.decode("latin-1")
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, PSLiteral):
        return _name(resolved)
    return None
