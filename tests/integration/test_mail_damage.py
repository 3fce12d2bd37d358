"""Damaged mail: a real message with random bytes changed or cut short never makes read_mail raise.

Two hundred whole messages parsed per run: a fuzz test, kept out of the unit tests' time budget.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import default

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.mail import read_mail

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def referral() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Pharmacy Team <Pharmacy.Team@NHS.net>"
    message["To"] = "agem.norfolkmedicineservices@nhs.net"
    message["Reply-To"] = "r@x.org"
    message["Subject"] = "Referral"
    message["Message-ID"] = "<abc.123@mail.example.nhs.net>"
    message["Date"] = "Tue, 04 Mar 2025 10:15:00 +0000"
    message.set_content("Please find the referral attached.")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 2.pdf")
    return message


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_real_message_with_bytes_changed_gives_a_mail(data: st.DataObject) -> None:
    """A well-formed message with random damage (flipped bytes, cut short) never makes read_mail raise."""
    raw = bytearray(referral().as_bytes(policy=default))
    for _ in range(data.draw(st.integers(0, 20))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    read_mail(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
