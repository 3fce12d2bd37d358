"""A referral's documents: the originals the service kept, downloaded safely, and each field on its page picture."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import text

from config.settings import load_settings
from intake.web.documents import DOWNLOAD_POLICY, content_disposition
from samples.photos import photographed_referral
from samples.scenarios import Scenario, deliver_to_maildir
from tests.web.conftest import Workspace, invoke
from tests.web.test_governance import first_reference

PNG = b"\x89PNG\r\n\x1a\n"


def document_links(html: str, reference: str) -> list[str]:
    return re.findall(rf'href="(/referrals/{reference}/documents/\d+)"', html)


def test_the_original_of_a_form_downloads_as_an_attachment_and_the_download_is_in_the_history(
    workspace: Workspace,
) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    links = document_links(workspace.client.get(f"/referrals/{reference}").text, reference)
    assert links, "the referral page offers no document to download"

    response = workspace.client.get(links[0])

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith('attachment; filename="')
    assert response.headers["content-security-policy"] == DOWNLOAD_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    with workspace.app.engine.connect() as connection:
        kept = connection.execute(text("SELECT sha256, size FROM form_file")).all()
    assert (hashlib.sha256(response.content).hexdigest(), len(response.content)) in kept
    history = workspace.client.get(f"/referrals/{reference}").text
    assert "Document 1 downloaded by pharmacist@nhs.net" in history


def test_each_field_says_where_it_was_read_and_shows_its_page_with_the_value_marked(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    page = workspace.client.get(f"/referrals/{reference}").text

    assert re.search(r"Read from page 1, (fillable field|beside the label) “", page)
    picture = re.search(r'<svg class="app-page-picture" viewBox="0 0 ([\d.]+) ([\d.]+)"[^>]*role="img"', page)
    assert picture, "no field is shown on its page picture"
    assert re.search(r"<title id=\"[^\"]+\">Page 1 of .+ as it was sent, with “.+” marked</title>", page)
    assert re.search(r'<rect class="app-page-picture__mark" x="[\d.]+" y="[\d.]+" width="[\d.]+"', page)
    href = re.search(r'<image href="([^"]+)"', page)
    assert href
    assert re.fullmatch(rf"/referrals/{reference}/documents/\d+/pages/1", href.group(1))

    drawn = workspace.client.get(href.group(1))
    again = workspace.client.get(href.group(1))

    assert drawn.status_code == 200
    assert drawn.headers["content-type"] == "image/png"
    assert drawn.content.startswith(PNG)
    assert again.content == drawn.content
    assert workspace.client.get(href.group(1).replace("/pages/1", "/pages/99")).status_code == 404


def test_a_purged_original_says_when_it_was_deleted_and_its_fields_stay(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    before = workspace.client.get(f"/referrals/{reference}").text
    links = document_links(before, reference)
    with workspace.app.engine.begin() as connection:  # what the retention policy does to every original
        connection.execute(text("UPDATE form_file SET content = NULL, purged_at = CURRENT_TIMESTAMP"))

    after = workspace.client.get(f"/referrals/{reference}").text
    response = workspace.client.get(links[0])

    assert "The original was deleted on" in after
    assert document_links(after, reference) == []
    assert "app-page-picture" not in after
    assert re.findall(r"Read from page \d+", after) == re.findall(r"Read from page \d+", before)
    assert response.status_code == 410
    assert "The original was deleted on" in response.text
    assert "downloaded by" not in workspace.client.get(f"/referrals/{reference}").text


def test_a_document_is_only_for_a_signed_in_user_of_a_referral_that_has_it(workspace: Workspace) -> None:
    reference = first_reference_signed_out(workspace)
    assert workspace.client.get(f"/referrals/{reference}/documents/1").status_code == 303
    assert workspace.client.get(f"/referrals/{reference}/documents/1/pages/1").status_code == 303
    workspace.sign_in()
    assert workspace.client.get(f"/referrals/{reference}/documents/99").status_code == 404
    assert workspace.client.get("/referrals/NMSS-NOSUCH00/documents/1").status_code == 404
    assert workspace.client.get("/referrals/NMSS-NOSUCH00/documents/1/pages/1").status_code == 404


def first_reference_signed_out(workspace: Workspace) -> str:
    workspace.sign_in()
    reference = first_reference(workspace)
    workspace.client.cookies.clear()
    return reference


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("Form 2.pdf", "attachment; filename=\"Form 2.pdf\"; filename*=UTF-8''Form%202.pdf"),
        ('a"b\r\nSet-Cookie: x=1.pdf', "attachment; filename=\"a_bSet-Cookie_ x_1.pdf\"; filename*=UTF-8''a%22b"),
        ("../../etc/passwd", 'attachment; filename="passwd"'),
        ("C:\\Users\\x\\Referral.pdf", 'attachment; filename="Referral.pdf"'),
        ("Wiśniewska – Form 1.pdf", "attachment; filename=\"Wi_niewska _ Form 1.pdf\"; filename*=UTF-8''Wi%C5%9B"),
        ("", 'attachment; filename="document"'),
        ("\u202egnp.pdf", 'attachment; filename="gnp.pdf"'),
    ],
)
def test_a_download_s_file_name_is_made_safe(filename: str, expected: str) -> None:
    """The name comes from an email: no folder, no control or bidi character, no quote, nothing that ends the
    header line; the ASCII name for old browsers, the whole name in ``filename*`` (RFC 6266, RFC 8187)."""
    header = content_disposition(filename)
    assert header.startswith(expected)
    assert not set(header) & {"\r", "\n", "\u202e"}
    assert header.count('"') == 2


def test_a_form_photographed_page_by_page_downloads_as_one_pdf_of_every_page(workspace: Workspace) -> None:
    """Form 2 sent as one phone photo a page: the referral lists it once, and its download holds every page, in
    the order the photos were attached, as a PDF named after the first photo."""
    settings = load_settings()
    day = dt.datetime.now(ZoneInfo(settings.service.timezone)).date()
    raw, photos = photographed_referral(day, seed=21)
    deliver_to_maildir(settings.mailbox.path, [Scenario("photographed", "", raw, "review")])
    ran = invoke("run", "--once")
    reference = next(line.split()[0] for line in ran.splitlines() if line.strip().startswith("NMSS-"))
    workspace.sign_in()

    page = workspace.client.get(f"/referrals/{reference}").text
    links = document_links(page, reference)
    downloads = [workspace.client.get(link) for link in dict.fromkeys(links)]

    assert len(downloads) == 3, "Form 1, the MIAT and Form 2: the later photos are no documents of their own"
    [photographed] = [d for d in downloads if "IMG_0412" in d.headers["content-disposition"]]
    assert photographed.headers["content-type"] == "application/pdf"
    assert 'filename="IMG_0412.jpg.pdf"' in photographed.headers["content-disposition"]
    pdf = PdfReader(io.BytesIO(photographed.content))
    assert len(pdf.pages) == len(photos)
    sizes = [(float(page.mediabox.width), float(page.mediabox.height)) for page in pdf.pages]
    assert [round(w / h, 2) for w, h in sizes] == [round(_ratio(photo), 2) for photo in photos]


def _ratio(photo: bytes) -> float:
    with Image.open(io.BytesIO(photo)) as picture:
        return float(picture.width / picture.height)
