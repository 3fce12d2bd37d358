"""Tesseract, through tesserocr, in the process that calls it: which way up a page is, and its words.

Only the parse workers reach this module (through :func:`parsers.parse_document`), so the engine runs under
their memory cap and time limit. One engine per process, made on first use and kept: loading the language
data takes a fifth of a second, a page's reading about half a second. Tesseract's own threads are kept to
one (``OMP_THREAD_LIMIT``) before it loads: the workers share two cores with the service, and each thread's
stack counts against the worker's address-space cap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from PIL import Image

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import tesserocr

_TESSDATA: Final = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
    Path("/usr/share/tessdata"),
)
"""Where Debian's tesseract-ocr-eng and tesseract-ocr-osd put the language data (TESSDATA_PREFIX first)."""

_MIN_OSD_CONFIDENCE: Final = 2.0
"""Below this, Tesseract's guess at a page's orientation is not taken (it gives about 15-20 on a form)."""

_NO_SCRIPT: Final = 1.0
"""Below this, the detector's confidence in the script it found says it found no writing at all: a photo of a
kitten scores 0.13, two rows of a table 2.9 however they lie."""


class EngineMissing(RuntimeError):
    """Tesseract's language data is not installed: the service cannot read scans until it is."""


@dataclass(frozen=True)
class Word:
    """One word as read from a page's picture, in the picture's pixels: its box, the baseline under it (or
    its bottom), its text, and the engine's confidence from 0 to 1."""

    x0: float
    top: float
    x1: float
    bottom: float
    baseline: float
    text: str
    confidence: float
    box: bool = False
    """A tick box read from its ink (parsers/ocr/ticks.py), not a word the engine read."""

    def moved(self, dx: float, dy: float) -> Word:
        """The word as it stands on the page, read from a cut-out of it whose corner is ``dx``, ``dy`` in."""
        return replace(
            self,
            x0=self.x0 + dx,
            x1=self.x1 + dx,
            top=self.top + dy,
            bottom=self.bottom + dy,
            baseline=self.baseline + dy,
        )


def tessdata() -> Path:
    """The folder holding eng.traineddata (and osd.traineddata)."""
    candidates = [Path(p) for p in (os.environ.get("TESSDATA_PREFIX"),) if p] + list(_TESSDATA)
    for folder in candidates:
        if (folder / "eng.traineddata").is_file():
            return folder
    raise EngineMissing("Tesseract's English language data is missing: install tesseract-ocr-eng")


@dataclass(frozen=True)
class Orientation:
    """Which way up a page is, as the orientation detector sees it."""

    turn: int | None
    """Degrees (0, 90, 180, 270) the page must be turned anticlockwise to stand upright, or None when the
    detector cannot tell."""
    writing: bool
    """False when the detector looked at the page's marks and saw no script in them (a photo): no turn of it
    will read as text. True when it saw writing, or saw too little to tell."""


class Engine:
    """Tesseract with the English model, and its orientation detector when the osd model is installed."""

    def __init__(self) -> None:
        folder = str(tessdata())
        self._words = tesserocr.PyTessBaseAPI(path=folder, lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)
        # Every character's rival readings with their scores, not only the best: how near a thing it was.
        self._words.SetVariable("lstm_choice_mode", "2")
        self._osd = (
            tesserocr.PyTessBaseAPI(path=folder, lang="osd", psm=tesserocr.PSM.OSD_ONLY)
            if (Path(folder) / "osd.traineddata").is_file()
            else None
        )

    def orientation(self, image: Image.Image) -> Orientation:
        """Which way up ``image`` is (nothing known when there is too little text, or no orientation model)."""
        if self._osd is None:
            return Orientation(None, writing=True)
        try:
            self._osd.SetImage(image)
            found = self._osd.DetectOrientationScript()
        except RuntimeError:
            return Orientation(None, writing=True)
        finally:
            self._osd.Clear()
        if not found:
            return Orientation(None, writing=True)
        writing = found.get("script_conf", 0.0) >= _NO_SCRIPT
        if found.get("orient_conf", 0.0) < _MIN_OSD_CONFIDENCE:
            return Orientation(None, writing=writing)
        return Orientation(int(found.get("orient_deg", 0)) % 360, writing=writing)

    def words(self, image: Image.Image) -> list[Word]:
        """The words on ``image`` with their boxes and confidences, in no particular order.

        A word's confidence is the engine's, lowered where one of its characters was a near thing: a rival
        reading of it scored close to the one chosen, or it was read as an O or a 0 shaped like the other
        (the engine's model reads a narrow 0 as O inside a code such as an F-code, and is sure of it).
        """
        return self._read(image)

    def line(self, image: Image.Image) -> list[Word]:
        """The words of ``image`` taken as one line of text: a second look at ink the page's reading passed
        over (a lone digit in a table's cell), in ``image``'s pixels."""
        self._words.SetPageSegMode(tesserocr.PSM.SINGLE_LINE)
        try:
            return self._read(image)
        finally:
            self._words.SetPageSegMode(tesserocr.PSM.SPARSE_TEXT)

    def block(self, image: Image.Image) -> list[Word]:
        """The words of ``image`` taken as one block of text (a value's cell read again), in its pixels."""
        self._words.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK)
        try:
            return self._read(image)
        finally:
            self._words.SetPageSegMode(tesserocr.PSM.SPARSE_TEXT)

    def _read(self, image: Image.Image) -> list[Word]:
        api = self._words
        try:
            api.SetImage(image)
            api.Recognize()
            word_level, symbol_level = tesserocr.RIL.WORD, tesserocr.RIL.SYMBOL
            found: list[Word] = []
            current: _Reading | None = None
            for item in tesserocr.iterate_level(api.GetIterator(), symbol_level):
                if item.IsAtBeginningOf(word_level):
                    if current is not None:
                        found.append(current.word())
                    current = _Reading.start(item, word_level)
                if current is not None:
                    current.characters.append(_Character.read(item, symbol_level))
            if current is not None:
                found.append(current.word())
        finally:
            # The page's picture and what the engine made of it are freed now, not at the next page: the
            # worker's memory cap is on the peak.
            api.Clear()
        return [word for word in found if word.text]


@dataclass(frozen=True)
class _Character:
    text: str
    rival: float
    """The best rival reading's score as a share of the chosen one's (0 when there is none)."""
    width: float | None
    """Its box's width over its height."""

    @classmethod
    def read(cls, item: tesserocr.PyResultIterator, level: int) -> _Character:
        scores = sorted((choice.Confidence() for choice in item.GetChoiceIterator()), reverse=True)
        rival = min(1.0, scores[1] / scores[0]) if len(scores) > 1 and scores[0] > 0 else 0.0
        box = item.BoundingBox(level)
        width = (box[2] - box[0]) / (box[3] - box[1]) if box is not None and box[3] > box[1] else None
        return cls(_text(item, level), rival, width)

    def shaped_as(self) -> str | None:
        """The other of O and 0 when this character was read as one of them and is shaped as the other."""
        if self.width is None:
            return None
        if self.text == "O" and self.width <= _ZERO_WIDTH:
            return "0"
        if self.text == "0" and self.width >= _O_WIDTH:
            return "O"
        return None


@dataclass
class _Reading:
    box: tuple[int, int, int, int]
    baseline: float
    text: str
    confidence: float
    characters: list[_Character]

    @classmethod
    def start(cls, item: tesserocr.PyResultIterator, level: int) -> _Reading | None:
        text = _text(item, level).strip()
        box = item.BoundingBox(level)
        if not text or box is None:
            return None
        base = float(box[3])
        baseline = item.Baseline(level)
        if baseline:
            (_, left), (_, right) = baseline
            base = (left + right) / 2
        return cls(box, base, text, max(0.0, item.Confidence(level)) / 100, [])

    def word(self) -> Word:
        confidence = self.confidence
        text = self.text
        for character in self.characters:
            if character.rival >= _RIVAL:
                confidence = min(confidence, 1.0 - character.rival)
            if character.shaped_as() is not None:
                confidence = min(confidence, _SHAPE_DOUBT)
        spelt = "".join(c.text for c in self.characters)
        if spelt == text and any(c.text.isdigit() for c in self.characters if c.shaped_as() is None):
            # Among digits (a code, a number), a narrow O is a 0; the word stays unsure all the same.
            text = "".join("0" if c.shaped_as() == "0" else c.text for c in self.characters)
        x0, top, x1, bottom = self.box
        return Word(x0, top, x1, bottom, self.baseline, text, confidence)


def _text(item: tesserocr.PyResultIterator, level: int) -> str:
    """What the engine read at ``item``, or nothing: tesserocr raises "No text returned" for a word or a
    character it found on the page and then could not read (a speck on a blank page), and one such mark must
    not cost the page's other words."""
    try:
        return item.GetUTF8Text(level) or ""
    except RuntimeError:
        return ""


_ZERO_WIDTH: Final = 0.74
_O_WIDTH: Final = 0.8
"""A character's width over its height: a 0 is a narrow oval (at most ``_ZERO_WIDTH``), an O nearly round (at
least ``_O_WIDTH``), in the sans fonts forms are printed in (DejaVu Sans: 0.65 and 0.88)."""

_SHAPE_DOUBT: Final = 0.5
"""The most a word is trusted when it holds an O shaped like a 0, or a 0 like an O."""

_RIVAL: Final = 0.5
"""A rival reading scoring at least this share of the chosen one's makes the character a near thing (the model
scores an l a third as well as the i it chose as a matter of course); the word is then trusted no more than
the chosen reading's lead over it."""


_ENGINE: Engine | None = None


def engine() -> Engine:
    """This process's engine, made on first use."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine()
    return _ENGINE
