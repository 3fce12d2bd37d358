"""Where things stand on a PDF page, in the terms a picture of the page uses.

A PDF measures in points from the lower-left corner of its user space, y upwards; a fillable field's ``/Rect``
is given so. pdfminer hands the text readers glyphs in its own device space: moved to the media box's corner
and turned by the page's ``/Rotate``. A picture of the page (pdfium renders the crop box, turned by
``/Rotate``) is measured from its top-left corner, y downwards. :class:`Sheet` turns either kind of box into
a :class:`parsers.types.Place` on that picture. Pure arithmetic: hostile numbers give no place, never an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from pdfminer.pdfpage import PDFPage

from parsers.types import Place

Rect = tuple[float, float, float, float]
"""x0, y0, x1, y1 in points."""

_LETTER: Final = (0.0, 0.0, 612.0, 792.0)
"""pdfminer's own default when a page's media box is missing or broken."""


@dataclass(frozen=True)
class Sheet:
    """One page's geometry: its media box, crop box (in user space) and turn (0, 90, 180 or 270 degrees)."""

    media: Rect
    crop: Rect
    rotate: int = 0

    @classmethod
    def of(cls, page: PDFPage) -> Sheet:
        """The geometry of ``page`` as pdfminer read it; a broken box is taken as US Letter, as pdfminer does."""
        media = rect(page.mediabox) or _LETTER
        crop = rect(page.cropbox) or media
        rotate = page.rotate if isinstance(page.rotate, int) and page.rotate in (0, 90, 180, 270) else 0
        return cls(media, crop, rotate)

    @property
    def size(self) -> tuple[float, float]:
        """The width and height of the page as shown (crop box, turned)."""
        width, height = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        return (height, width) if self.rotate in (90, 270) else (width, height)

    def place(self, box: Rect) -> Place | None:
        """``box`` (user space) on the page as shown; None when it is degenerate or wholly off the page."""
        left, bottom, right, top = self.crop
        x0, x1 = sorted((max(left, min(box[0], box[2])), min(right, max(box[0], box[2]))))
        y0, y1 = sorted((max(bottom, min(box[1], box[3])), min(top, max(box[1], box[3]))))
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
            return None
        corners = [self._shown(x, y) for x in (x0, x1) for y in (y0, y1)]
        width, height = self.size
        return Place(
            left=round(min(c[0] for c in corners), 1),
            top=round(min(c[1] for c in corners), 1),
            right=round(max(c[0] for c in corners), 1),
            bottom=round(max(c[1] for c in corners), 1),
            page_width=round(width, 1),
            page_height=round(height, 1),
        )

    def from_device(self, x: float, y: float) -> tuple[float, float]:
        """A point of pdfminer's device space (see ``PDFPageInterpreter.process_page``) in user space."""
        x0, y0, x1, y1 = self.media
        if self.rotate == 90:
            return x1 - y, x + y0
        if self.rotate == 180:
            return x1 - x, y1 - y
        if self.rotate == 270:
            return y + x0, y1 - x
        return x + x0, y + y0

    def _shown(self, x: float, y: float) -> tuple[float, float]:
        left, bottom, right, top = self.crop
        u, v = x - left, top - y
        width, height = right - left, top - bottom
        if self.rotate == 90:
            return height - v, u
        if self.rotate == 180:
            return width - u, height - v
        if self.rotate == 270:
            return v, width - u
        return u, v


def rect(value: object) -> Rect | None:
    """``value`` (a PDF rectangle as pdfminer gives it: four numbers) as a normalised :data:`Rect`, or None."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    x0, y0, x1, y1 = (float(v) for v in value)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
