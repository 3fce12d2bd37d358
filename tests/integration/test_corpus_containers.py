"""Real Outlook containers from other projects' test suites: an Outlook .msg item and TNEF winmail.dat files.

None of them holds a form (the corpora have pictures and text bodies only), so these show that real
containers open, that what they hold is listed, and that nothing in them is taken for a form.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from parsers.containers import msg_files, tnef_files
from parsers.mail import read_mail
from tests.corpora import require_corpora

CORPORA = require_corpora()
OUTLOOK_ITEM = CORPORA / "emails" / "spamscope-mail-parser" / "mail_outlook_1.msg"


def test_a_real_outlook_item_opens_and_lists_the_pictures_it_holds() -> None:
    files = msg_files(OUTLOOK_ITEM.read_bytes())

    assert [name for name, _ in files] == [
        "newsletter.png",
        "spacer.gif",
        "image004.jpg",
        "image006.jpg",
        "image008.jpg",
    ]
    assert all(data for _, data in files)


def test_a_real_outlook_item_attached_to_an_email_is_opened_and_gives_no_forms() -> None:
    message = EmailMessage()
    message["From"] = "pharmacy@nhs.net"
    message["Subject"] = "Fwd: referral"
    message.set_content("See the attached item.")
    message.add_attachment(
        OUTLOOK_ITEM.read_bytes(), maintype="application", subtype="vnd.ms-outlook", filename="item.msg"
    )

    assert read_mail(message.as_bytes()).attachments == ()


def test_a_real_winmail_dat_opens_and_its_pictures_are_not_taken_for_forms() -> None:
    relative = "emails/mimekit/rich-text.eml"

    names = [name for name, _ in tnef_files(winmail_in_raw(relative))]

    assert "kitten-playing-with-a-christmas-tree.jpg" in names
    assert read_mail((CORPORA / relative).read_bytes()).attachments == ()


def test_a_file_named_winmail_dat_that_is_not_tnef_is_kept_as_a_container_that_could_not_be_opened() -> None:
    mail = read_mail((CORPORA / "emails/zbateson-mail-mime-parser/m4006.eml").read_bytes())

    assert [(a.filename, a.kind) for a in mail.attachments] == [("winmail.dat", "tnef")]


def winmail_in_raw(relative: str) -> bytes:
    """The winmail.dat part's bytes, taken with the stdlib so read_mail's own opening of it is not involved."""
    message = email.message_from_bytes((CORPORA / relative).read_bytes(), policy=policy.default)
    for part in message.walk():
        if part.get_filename() == "winmail.dat":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError("no winmail.dat part")
