"""Scanned and photographed forms, made from the drawn flat forms: the OCR corpus the tests and bench/ocr build.

Each form (samples/flat.py, with its tick boxes printed as boxes, as on paper) is rendered at a scanner's
resolution and spoilt as copiers and phones spoil pages: grey or black-and-white, a skew of up to 3°, noise,
JPEG artefacts, a phone photo's perspective, upside down; one version has its values in a handwriting font.
The result is a PDF whose pages are pictures, as a copier's "scan to email" sends. Nothing here is written to
disk: callers put it in a temporary folder if they need files.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pypdfium2
from PIL import Image, ImageFilter

from config.forms import FormDefinitions, FormKind
from parsers.types import Form, Unreadable, Value
from rules.decide import ocr_uncertain
from samples.flat import Layout, PrintStyle, flat_pdf
from samples.forms import complete_values
from samples.people import patient, seeded


@dataclass(frozen=True)
class Condition:
    """How a page was scanned or photographed."""

    name: str
    dpi: int = 200
    black_and_white: bool = False
    skew: float = 0.0  # degrees, the largest; each page gets a random angle up to it, either way
    noise: float = 0.0  # standard deviation of grey noise, in levels of 255
    jpeg: int | None = None  # JPEG quality the pages were saved at
    perspective: float = 0.0  # how far the page's top corners are pulled in, as a share of its width
    turned: int = 0  # degrees the page lies turned (180: upside down)
    handwritten: bool = False


CONDITIONS: tuple[Condition, ...] = (
    Condition("300 dpi grey", dpi=300),
    Condition("200 dpi grey", dpi=200),
    Condition("150 dpi grey", dpi=150),
    Condition("200 dpi black and white", black_and_white=True),
    Condition("200 dpi skewed up to 3°", skew=3.0),
    Condition("200 dpi noise and JPEG", noise=12.0, jpeg=40),
    Condition("200 dpi upside down", turned=180),
    Condition("phone photo (perspective)", dpi=200, perspective=0.03, skew=1.5, noise=6.0, jpeg=70),
    Condition("200 dpi handwritten values", handwritten=True),
)


@dataclass(frozen=True)
class ScanSample:
    name: str
    kind: FormKind
    condition: Condition
    data: bytes
    pages: int
    expected: Mapping[str, Value]


def paper_style(seed: int) -> PrintStyle:
    """A print style drawn from ``seed`` with tick boxes that are boxes (☒ ☑ ☐), as printed forms have."""
    style = PrintStyle.from_seed(seed)
    return replace(style, ticks=seeded("paper-ticks", seed).choice(("ballot", "check")))


def scanned_form(
    kind: FormKind,
    values: Mapping[str, Value],
    condition: Condition,
    *,
    seed: int,
    layout: Layout = "table",
) -> tuple[bytes, int]:
    """The form ``kind`` holding ``values`` printed, then scanned under ``condition``: a PDF of pictures."""
    printed = flat_pdf(
        kind,
        values,
        layout="table" if condition.handwritten else layout,
        style=paper_style(seed),
        handwritten=condition.handwritten,
    )
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    pdf = pypdfium2.PdfDocument(printed)
    try:
        scale = condition.dpi / 72
        pages = [spoil(pdf[n].render(scale=scale, grayscale=True).to_pil(), condition, rng) for n in range(len(pdf))]
    finally:
        pdf.close()
    return picture_pdf(pages, condition), len(pages)


def spoil(page: Image.Image, condition: Condition, rng: random.Random) -> Image.Image:
    """One rendered page as ``condition`` would have scanned it."""
    page = page.convert("L")
    if condition.perspective:
        width, height = page.size
        pull = condition.perspective * width
        # Image.transform maps each output corner to an input point: top corners pulled in, as a phone held
        # below the page sees it.
        quad = (-pull, 0, -pull * 0.2, height, width + pull * 0.2, height, width + pull, 0)
        page = page.transform(page.size, Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=255)
    if condition.skew:
        angle = rng.uniform(-condition.skew, condition.skew)
        page = page.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if condition.turned:
        page = page.rotate(condition.turned, expand=True, fillcolor=255)
    if condition.noise:
        pixels = np.asarray(page, dtype=np.float32)
        noisy = pixels + np.random.default_rng(rng.randrange(2**32)).normal(0, condition.noise, pixels.shape)
        page = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        page = page.filter(ImageFilter.GaussianBlur(0.4))
    if condition.black_and_white:
        page = page.point(lambda level: 255 if level > 160 else 0).convert("1")
    return page


def picture_pdf(pages: list[Image.Image], condition: Condition) -> bytes:
    """``pages`` as a PDF of pictures at the condition's resolution, JPEG-compressed when it says so."""
    buffer = io.BytesIO()
    if condition.jpeg is not None:
        encoded: list[Image.Image] = []
        for page in pages:
            jpeg = io.BytesIO()
            page.convert("L").save(jpeg, format="JPEG", quality=condition.jpeg)
            encoded.append(Image.open(io.BytesIO(jpeg.getvalue())))
        pages = encoded
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=condition.dpi)
    return buffer.getvalue()


def scan_corpus(
    kinds: tuple[FormKind, ...], conditions: tuple[Condition, ...], seeds: range, *, today: dt.date
) -> Iterator[ScanSample]:
    """Every form of ``kinds`` for each seed's invented patient, scanned under each condition."""
    for seed in seeds:
        for kind in kinds:
            values = complete_values(kind, patient(seed), today=today, seed=seed)
            for number, condition in enumerate(conditions):
                data, pages = scanned_form(kind, values, condition, seed=seed * 100 + number)
                name = f"scan-{kind}-{seed}-{condition.name}.pdf"
                yield ScanSample(name, kind, condition, data, pages, values)


@dataclass
class Tally:
    """How a set of scanned forms was read: forms recognised, fields right, fields wrong with high confidence."""

    forms: int = 0
    recognised: int = 0
    fields: int = 0
    right: int = 0
    sure_wrong: int = 0
    unsure_right: int = 0
    """Fields read right but not surely: the team checks them, which costs time but never a wrong referral."""
    pages: int = 0
    seconds: float = 0.0

    def add(
        self,
        sample: ScanSample,
        document: Form | Unreadable,
        threshold: float,
        definitions: FormDefinitions,
        today: dt.date,
    ) -> list[str]:
        """Count ``document`` as read from ``sample``; the fields read wrong, each as one line.

        A wrong value counts as sure when the service would act on it: read at ``threshold`` or above and
        passing its own checks (a misread NHS number that fails its check digit is the team's, not a guess).
        """
        self.forms += 1
        self.pages += sample.pages
        if not isinstance(document, Form) or document.kind != sample.kind:
            self.fields += len(sample.expected)
            return [f"{sample.name}: read as {getattr(document, 'problem', document.kind)}"]
        self.recognised += 1
        wrong = []
        invalid = {e.key for e in document.invalid}
        unsure = {problem.field for problem in ocr_uncertain([document], definitions, today, threshold)}
        for key in sorted(set(sample.expected) | set(document.fields) | invalid):
            self.fields += 1
            got = document.fields.get(key)
            confidence = document.confidence.get(key, 0.0)
            sure = got is not None and key not in invalid and key not in unsure
            if key not in invalid and same_value(sample.expected.get(key), got):
                self.right += 1
                self.unsure_right += got is not None and not sure
                continue
            self.sure_wrong += sure
            wrong.append(
                f"{sample.name}: {key}: read {'invalid' if key in invalid else got!r} at {confidence:.2f}"
                + (" (SURE)" if sure else "")
            )
        return wrong


def same_value(expected: Value | None, got: Value | None) -> bool:
    """Whether a value was read right: a long text's line breaks are layout, not content, and a name written
    in capitals (as the handwriting font writes everything) is the same name."""
    if isinstance(expected, str) and isinstance(got, str):
        return expected.casefold().split() == got.casefold().split()
    return expected == got
