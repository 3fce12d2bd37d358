"""Finding a form's printed labels in running text, as forms-spec.md says labels are matched.

A label matches whatever reads the same word for word once case, spacing and punctuation are set aside:
``Forename(s)``, ``FORENAME (S)`` and ``forename(s) *:`` are one label, and so are ``Pharmacy / dispensary
name`` and ``Pharmacy/dispensary name``. A question's number before it is not part of it: ``1. Surname``,
``Q3 Surname`` and ``2a) Surname`` are ``Surname`` (:func:`numbering`). Every label and alias comes from
config/forms/.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from config.forms import FormDefinition

_WORD: Final = re.compile(r"[^\W_]+")


def words(text: str) -> list[tuple[str, int, int]]:
    """The words of ``text`` folded to lower case, each with where it starts and ends in ``text``."""
    return [(m.group().casefold(), m.start(), m.end()) for m in _WORD.finditer(text)]


_NUMBER: Final = re.compile(r"(?:q|question)?\d{1,3}[a-z]?")
"""A question's number as ``words`` folds it: ``1``, ``2a``, ``q3`` (from "1.", "2a)", "Q3")."""

_NUMBER_WORDS: Final = frozenset({"q", "question"})
"""Words that say a number follows: "Q 3", "Question 3"."""


def numbering(folded: Sequence[tuple[str, int, int]]) -> int:
    """How many of the first ``folded`` words (as :func:`words` gives them) number a question rather than say
    it: "1. Surname", "Q3 Date of birth", "3) NHS number", "2a. Postcode", "Question 4 NHS number", "1.2 Title".
    Every reader (flat PDF, Word, OCR) matches labels after them; 0 when the words do not start with a number,
    or are nothing but one."""
    count = 0
    while count < min(len(folded) - 1, 3):
        word = folded[count][0]
        if _NUMBER.fullmatch(word) or (word in _NUMBER_WORDS and _NUMBER.fullmatch(folded[count + 1][0])):
            count += 1
            continue
        break
    return count


def fold(text: str) -> str:
    """``text`` with everything but letters and digits dropped, in lower case: how option texts are compared."""
    return "".join(w for w, _, _ in words(text))


@dataclass(frozen=True)
class Label:
    """One printed wording of a field: its words, the text as configured, and the keys that print it."""

    words: tuple[str, ...]
    text: str
    keys: tuple[str, ...]


class Labels:
    """Every label and alias of one form, longest first, so that "Date signed" wins over "Date"."""

    def __init__(self, definition: FormDefinition) -> None:
        by_words: dict[tuple[str, ...], Label] = {}
        for field in definition.fields:
            for text in field.labels:
                key = tuple(w for w, _, _ in words(text))
                if not key:
                    continue
                known = by_words.get(key)
                keys = (*known.keys, field.key) if known else (field.key,)
                by_words[key] = Label(key, known.text if known else text, keys)
        self.labels: tuple[Label, ...] = tuple(sorted(by_words.values(), key=lambda label: -len(label.words)))
        self._first_words = frozenset(label.words[0] for label in self.labels)
        self._prefixes = frozenset(label.words[:n] for label in self.labels for n in range(1, len(label.words)))

    def could_start(self, first_word: str) -> bool:
        """Whether some label begins with this (folded) word: a cheap test before :meth:`longest`."""
        return first_word in self._first_words

    def longest(self, folded: Sequence[str], *, ending_after: int = 0) -> Label | None:
        """The longest label that ``folded`` (words) begins with, ending past its first ``ending_after`` words."""
        for label in self.labels:
            size = len(label.words)
            if ending_after < size <= len(folded) and tuple(folded[:size]) == label.words:
                return label
        return None

    def continues(self, folded: Sequence[str]) -> bool:
        """Whether ``folded`` (words) is the beginning of a longer label, which may go on on the next line."""
        return tuple(folded) in self._prefixes
