"""Which of the four forms a document is: by its title, else its fillable field names, else its file name.

Every clue comes from config/forms/ (``title_phrases``, the keys, ``filename_patterns``), so a change of
template is a change of configuration. Each function answers None rather than guess between two forms.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.forms import FormDefinitions, FormKind, normalise_title


def recognise(
    page_text: str, field_names: Iterable[str], filename: str, definitions: FormDefinitions
) -> FormKind | None:
    """The form ``page_text`` (page 1's text), ``field_names`` (AcroForm names) or ``filename`` says it is."""
    return (
        by_title(page_text, definitions)
        or by_field_names(field_names, definitions)
        or by_filename(filename, definitions)
    )


def by_title(page_text: str, definitions: FormDefinitions) -> FormKind | None:
    """The form whose title phrase stands earliest on the page.

    Earliest, not first found: Form 2 names Form 1 and the MIAT further down its first page.
    """
    # Padding with spaces makes a phrase match whole words only ("form 1" must not match "form 12").
    text = f" {normalise_title(page_text)} "
    best: dict[int, set[FormKind]] = {}
    for definition in definitions:
        positions = [text.find(f" {phrase} ") for phrase in definition.title_phrases if phrase]
        found = [p for p in positions if p >= 0]
        if found:
            best.setdefault(min(found), set()).add(definition.kind)
    return _only(best[min(best)]) if best else None


def by_field_names(field_names: Iterable[str], definitions: FormDefinitions, *, at_least: int = 1) -> FormKind | None:
    """The form with most fields named after keys no other form has (``KEY``, ``KEY.CODE``, ``KEY.yes``).

    None when no form has ``at_least`` such names, or two forms have equally many.
    """
    counts = field_name_counts(field_names, definitions)
    top = max(counts.values(), default=0)
    if top < max(at_least, 1):
        return None
    return _only({kind for kind, count in counts.items() if count == top})


def field_name_counts(field_names: Iterable[str], definitions: FormDefinitions) -> dict[FormKind, int]:
    """For each form, how many of ``field_names`` are (or belong to) a key that only that form has."""
    names = {name.lower() for name in field_names}
    counts: dict[FormKind, int] = {}
    for definition in definitions:
        others: set[str] = set()
        for other in definitions:
            if other.kind != definition.kind:
                others |= other.keys
        unique = {key.lower() for key in definition.keys - others}
        counts[definition.kind] = sum(1 for name in names if name in unique or name.rpartition(".")[0] in unique)
    return counts


def by_filename(filename: str, definitions: FormDefinitions) -> FormKind | None:
    """The form whose file-name pattern matches earliest in the file's base name."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    best: dict[int, set[FormKind]] = {}
    for definition in definitions:
        starts = [m.start() for m in (p.search(base) for p in definition.filename_patterns) if m is not None]
        if starts:
            best.setdefault(min(starts), set()).add(definition.kind)
    return _only(best[min(best)]) if best else None


def _only(kinds: set[FormKind]) -> FormKind | None:
    return next(iter(kinds)) if len(kinds) == 1 else None
