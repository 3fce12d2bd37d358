"""automatic_reason: mail sent by a machine gets no automatic reply (RFC 3834, domain-notes.md)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from parsers.mail import Mail, read_mail
from rules.automatic import automatic_reason, is_own_message_id

OURS = frozenset({"agem.norfolkmedicineservices@nhs.net", "nmss.other@nhs.net"})
DOMAIN = "nhs.net"


def _mail(
    sender: str | None = "pharmacist@nhs.net",
    message_id: str | None = "x1@nhs.net",
    reply_to: str | None = None,
    **headers: str,
) -> Mail:
    values = {"content-type": "text/plain", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return Mail(message_id=message_id, sender=sender, reply_to=reply_to, headers=MappingProxyType(values))


@pytest.mark.parametrize(
    ("mail", "reason"),
    [
        pytest.param(_mail(auto_submitted="auto-replied"), "auto-submitted", id="auto-replied out of office"),
        pytest.param(_mail(auto_submitted="auto-generated"), "auto-submitted", id="auto-generated notice"),
        pytest.param(_mail(auto_submitted="Auto-Replied (vacation)"), "auto-submitted", id="keyword with a comment"),
        pytest.param(_mail(auto_submitted="no"), None, id="Auto-Submitted no is a person"),
        pytest.param(_mail(precedence="bulk"), "precedence-bulk", id="precedence bulk"),
        pytest.param(_mail(precedence="list"), "precedence-bulk", id="precedence list"),
        pytest.param(_mail(precedence="junk"), "precedence-bulk", id="precedence junk"),
        pytest.param(_mail(precedence="first-class"), None, id="other precedence is a person"),
        pytest.param(_mail(list_id="<nhs-pharmacy.lists.example>"), "list", id="mailing list id"),
        pytest.param(_mail(list_unsubscribe="<mailto:u@x.org>"), "list", id="unsubscribe link"),
        pytest.param(_mail(return_path="<>"), "null-return-path", id="empty return path"),
        pytest.param(_mail(return_path="< >"), "null-return-path", id="empty return path with a space"),
        pytest.param(_mail(return_path="<p@nhs.net>"), None, id="ordinary return path"),
        pytest.param(_mail(content_type="multipart/report"), "delivery-report", id="delivery status report"),
        pytest.param(_mail(sender="MAILER-DAEMON@mx.example.org".lower()), "system-sender", id="mailer daemon"),
        pytest.param(_mail(sender="postmaster@nhs.net"), "system-sender", id="postmaster"),
        pytest.param(_mail(sender="noreply@pharmacy.example"), "system-sender", id="noreply"),
        pytest.param(_mail(sender="no-reply@pharmacy.example"), "system-sender", id="no-reply"),
        pytest.param(_mail(sender="noreply.person@nhs.net"), None, id="a person whose name starts noreply"),
        pytest.param(_mail(sender="nmss.other@nhs.net"), "own-address", id="one of our own addresses"),
        pytest.param(_mail(x_loop="agem.norfolkmedicineservices@nhs.net"), "loop", id="X-Loop naming us"),
        pytest.param(_mail(x_loop="helpdesk@other.org"), None, id="X-Loop naming someone else"),
        pytest.param(
            _mail(message_id="nmss-intake.reply.incomplete.NMSS-1.20250304T100000Z@nhs.net"),
            "own-message-id",
            id="our own reply came back",
        ),
        pytest.param(_mail(x_auto_response_suppress="All"), None, id="X-Auto-Response-Suppress alone is a person"),
        pytest.param(_mail(x_auto_response_suppress="DR, OOF, AutoReply"), None, id="Exchange list suppress flags"),
        pytest.param(_mail(), None, id="an ordinary pharmacist"),
        pytest.param(_mail(sender=None), None, id="no sender is not by itself automatic"),
    ],
)
def test_automatic_reason(mail: Mail, reason: str | None) -> None:
    """Each rule in domain-notes.md gives its code; a person's mail gives None."""
    assert automatic_reason(mail, OURS, DOMAIN) == reason


def test_a_pharmacy_on_our_own_domain_is_not_mistaken_for_us() -> None:
    """nhs.net Message-IDs from pharmacies are theirs: only ids with our prefix are our own."""
    assert automatic_reason(_mail(message_id="ABC123@nhs.net"), OURS, DOMAIN) is None
    assert not is_own_message_id("<ABC123@nhs.net>", DOMAIN)
    assert is_own_message_id("<nmss-intake.reply.misrouted.R.20250101T000000Z@NHS.net>", DOMAIN)


def test_the_loop_header_value_can_be_configured() -> None:
    """A deployment that stamps X-Loop with another name still recognises it."""
    mail = _mail(x_loop="NMSS Intake")
    assert automatic_reason(mail, OURS, DOMAIN, loop_names=["nmss intake"]) == "loop"
    assert automatic_reason(mail, OURS, DOMAIN) is None


def test_without_a_domain_the_own_message_id_rule_is_skipped() -> None:
    """own_domain=None turns the Message-ID rule off rather than matching everything."""
    mail = _mail(message_id="nmss-intake.reply.x@nhs.net")
    assert automatic_reason(mail, OURS) is None


def test_a_bounce_from_a_bare_mailer_daemon_is_automatic() -> None:
    """ "From: Mail Delivery Subsystem <MAILER-DAEMON>" (no domain) is still a system sender."""
    mail = read_mail(b"From: Mail Delivery Subsystem <MAILER-DAEMON>\r\nSubject: failed\r\n\r\nReturned mail\r\n")
    assert mail.sender == "mailer-daemon"
    assert automatic_reason(mail, OURS, DOMAIN) == "system-sender"


@pytest.mark.parametrize(
    ("mail", "reason"),
    [
        pytest.param(_mail(precedence="auto_reply"), "auto-submitted", id="Precedence auto_reply"),
        pytest.param(_mail(x_autoreply="yes"), "auto-submitted", id="X-Autoreply"),
        pytest.param(_mail(x_autorespond="Out of office"), "auto-submitted", id="X-Autorespond"),
        pytest.param(_mail(x_autoreply="no"), None, id="X-Autoreply no is a person"),
        pytest.param(_mail(x_failed_recipients="a@nhs.net"), "delivery-report", id="X-Failed-Recipients (Exim bounce)"),
        pytest.param(_mail(sender="no-reply+x@pharmacy.example"), "system-sender", id="no-reply with a tag"),
        pytest.param(_mail(sender="no.reply@pharmacy.example"), "system-sender", id="no.reply"),
        pytest.param(_mail(sender="No_Reply@pharmacy.example"), "system-sender", id="No_Reply"),
        pytest.param(_mail(sender="bounces+1@lists.example.org"), "system-sender", id="bounces with a tag"),
        pytest.param(_mail(sender="mailerdaemon@mx.example.org"), "system-sender", id="mailerdaemon"),
        pytest.param(_mail(sender="do.not.reply@nhs.net"), "system-sender", id="do.not.reply"),
        pytest.param(_mail(reply_to="mailer-daemon@mx.example.org"), "system-sender", id="Reply-To mailer-daemon"),
        pytest.param(_mail(reply_to="noreply@pharmacy.example"), "system-sender", id="Reply-To noreply"),
        pytest.param(_mail(reply_to="postmaster@pharmacy.example"), "system-sender", id="Reply-To postmaster"),
        pytest.param(_mail(reply_to="desk@pharmacy.example"), None, id="Reply-To a person"),
        pytest.param(
            _mail(sender="agem.norfolkmedicineservices+x@nhs.net"), "own-address", id="our own address with a tag"
        ),
        pytest.param(_mail(sender="NMSS.Other@NHS.net"), "own-address", id="our own address in capitals"),
        pytest.param(_mail(sender="bob"), None, id="a bare name is not by itself automatic"),
    ],
)
def test_every_spelling_of_a_machine_or_of_us_is_automatic(mail: Mail, reason: str | None) -> None:
    """The variants that used to get replies: older auto-responder headers, tagged and punctuated machine
    addresses, a machine in Reply-To, and our own address spelt differently."""
    assert automatic_reason(mail, OURS, DOMAIN) == reason


def test_an_auto_submitted_header_in_an_encoded_word_is_still_automatic() -> None:
    """Auto-Submitted is read with its encoded-words decoded, as a mail client shows it."""
    raw = b"From: desk@pharmacy.example\r\nAuto-Submitted: =?utf-8?q?auto-replied?=\r\nSubject: away\r\n\r\nAway\r\n"
    assert automatic_reason(read_mail(raw), OURS, DOMAIN) == "auto-submitted"
