"""Tesseract, through tesserocr, in the process that calls it: which way up a page is, how skewed, its words.

Only the parse workers reach this module (through :func:`parsers.parse_document`), so the engine runs under
their memory cap and time limit. One engine per process, made on first use and kept: loading the language
data takes a fifth of a second, a page's reading about half a second. Tesseract's own threads are kept to
one (``OMP_THREAD_LIMIT``) before it loads: the workers share two cores with the service, and each thread's
stack counts against the worker's address-space cap.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
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


def tessdata() -> Path:
    """The folder holding eng.traineddata (and osd.traineddata)."""
    candidates = [Path(p) for p in (os.environ.get("TESSDATA_PREFIX"),) if p] + list(_TESSDATA)
    for folder in candidates:
        if (folder / "eng.traineddata").is_file():
            return folder
    raise EngineMissing("Tesseract's English language data is missing: install tesseract-ocr-eng")


class Engine:
    """Tesseract with the English model, and its orientation detector when the osd model is installed."""

    def __init__(self) -> None:
        folder = str(tessdata())
        self._words = tesserocr.PyTessBaseAPI(path=folder, lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)
        self._osd = (
            tesserocr.PyTessBaseAPI(path=folder, lang="osd", psm=tesserocr.PSM.OSD_ONLY)
            if (Path(folder) / "osd.traineddata").is_file()
            else None
        )

    def orientation(self, image: Image.Image) -> int | None:
        """How many degrees (0, 90, 180, 270) the page must be turned anticlockwise to stand upright, or None
        when the detector cannot tell (too little text, or no orientation model installed)."""
        if self._osd is None:
            return None
        try:
            self._osd.SetImage(image)
            found = self._osd.DetectOrientationScript()
        except RuntimeError:
            return None
        if not found or found.get("orient_conf", 0.0) < _MIN_OSD_CONFIDENCE:
            return None
        return int(found.get("orient_deg", 0)) % 360

    def skew(self, image: Image.Image) -> float:
        """The degrees the page's text lines lean (anticlockwise positive), from Tesseract's layout analysis."""
        # Sparse-text segmentation (how words are read) measures no skew: the page's layout analysis does.
        self._words.SetPageSegMode(tesserocr.PSM.AUTO)
        try:
            self._words.SetImage(image)
            layout = self._words.AnalyseLayout()
        finally:
            self._words.SetPageSegMode(tesserocr.PSM.SPARSE_TEXT)
        if layout is None:
            return 0.0
        angle = layout.Orientation()[3]
        return math.degrees(angle) if math.isfinite(angle) else 0.0

    def words(self, image: Image.Image) -> list[Word]:
        """The words on ``image`` with their boxes and confidences, in no particular order."""
        api = self._words
        api.SetImage(image)
        api.Recognize()
        level = tesserocr.RIL.WORD
        found: list[Word] = []
        for item in tesserocr.iterate_level(api.GetIterator(), level):
            text = (item.GetUTF8Text(level) or "").strip()
            box = item.BoundingBox(level)
            if not text or box is None:
                continue
            x0, top, x1, bottom = box
            baseline = item.Baseline(level)
            base = float(bottom)
            if baseline:
                (_, left), (_, right) = baseline
                base = (left + right) / 2
            found.append(Word(x0, top, x1, bottom, base, text, max(0.0, item.Confidence(level)) / 100))
        return found


_ENGINE: Engine | None = None


def engine() -> Engine:
    """This process's engine, made on first use."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine()
    return _ENGINE
