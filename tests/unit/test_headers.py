"""The header guard (notifier/headers.py) and what build_reply copies from a hostile original."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from config.settings import ServiceSettings
from notifier.errors import SendRejected, UnsafeMessage
from notifier.headers import check_message, serialise, set_header
from notifier.replies import NoReplyAddressError, build_reply
from notifier.senders.outbox import FileOutbox
from parsers.mail import Mail

SERVICE = ServiceSettings()
NOW = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)
PHARMACY = "pharmacy.team@nhs.net"
ENCODED_BCC = "<=?utf-8?q?x=0D=0ABcc:_evil1@attacker.example=0D=0AX-A:_?=@example.org>"


def reply(mail: Mail) -> EmailMessage:
    return build_reply(
        "misrouted", mail=mail, problems=[], missing_forms=[], reference="NMSS-7KQ2M4PA", service=SERVICE, now=NOW
    )


def plain(to: str = PHARMACY, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SERVICE.address
    message["To"] = to
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello\n")
    return message


class TestSetHeader:
    def test_a_value_with_a_line_break_is_refused_before_it_is_written(self) -> None:
        """CR, LF and the other characters a reader ends a line at never reach a header."""
        for value in ("a\r\nBcc: evil@attacker.example", "a\nb", "a\rb", "a\u2028b", "a\x00b"):
            message = EmailMessage()
            with pytest.raises(UnsafeMessage):
                set_header(message, "Subject", value)
            assert "Subject" not in message

    def test_an_encoded_line_break_is_caught_after_the_email_package_decodes_it(self) -> None:
        """The value as given has no line break; the header the email package makes of it does."""
        with pytest.raises(UnsafeMessage) as raised:
            set_header(EmailMessage(), "In-Reply-To", ENCODED_BCC)
        assert raised.value.reason == "line_break_in_header"
        assert "attacker" not in str(raised.value)

    def test_an_ordinary_value_is_written(self) -> None:
        """One line of text goes in unchanged."""
        message = EmailMessage()
        set_header(message, "In-Reply-To", "<orig.1@pharmacy.nhs.net>")
        assert message["In-Reply-To"] == "<orig.1@pharmacy.nhs.net>"


class TestCheckMessage:
    def test_a_reply_passes_for_its_own_recipient(self) -> None:
        """What build_reply makes is what every sender lets through."""
        check_message(reply(Mail(sender=PHARMACY)), [PHARMACY])

    def test_a_stored_message_whose_header_decodes_to_a_line_break_is_refused(self) -> None:
        """An outbox row read back from bytes is checked as decoded, where the injected line would appear."""
        raw = f"From: {SERVICE.address}\r\nTo: {PHARMACY}\r\nIn-Reply-To: {ENCODED_BCC}\r\n\r\nHello\r\n".encode()
        stored = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
        assert isinstance(stored, EmailMessage)
        with pytest.raises(UnsafeMessage):
            check_message(stored, [PHARMACY])

    @pytest.mark.parametrize("name", ["Bcc", "Cc", "Resent-To", "Resent-Bcc"])
    def test_any_recipient_header_but_to_is_refused(self, name: str) -> None:
        """A transport that reads recipients from headers could find another one there."""
        with pytest.raises(UnsafeMessage) as raised:
            check_message(plain(**{name: "evil@attacker.example"}), [PHARMACY])
        assert raised.value.reason == "other_recipient_header"

    def test_a_to_header_that_names_someone_else_is_refused(self) -> None:
        """To must name exactly the envelope's recipients."""
        with pytest.raises(UnsafeMessage) as raised:
            check_message(plain(to=f"{PHARMACY}, evil@attacker.example"), [PHARMACY])
        assert raised.value.reason == "recipients_differ"

    @pytest.mark.parametrize("recipients", [[], ["bob"], ["a@b.example\r\nX: y"]], ids=["none", "bare", "crlf"])
    def test_recipients_that_are_not_strict_addresses_are_refused(self, recipients: list[str]) -> None:
        """The envelope itself is checked, whoever built it."""
        with pytest.raises(UnsafeMessage):
            check_message(plain(), recipients)

    def test_the_refusal_is_permanent(self) -> None:
        """The outbox worker does not retry it: the same message would fail again."""
        assert issubclass(UnsafeMessage, SendRejected)


class TestWhatTheReplyCopies:
    def test_an_id_that_is_not_a_strict_msg_id_is_left_out_of_the_threading_headers(self) -> None:
        """In-Reply-To and References keep only strict msg-ids; no header line is added."""
        mail = Mail(sender=PHARMACY, message_id=ENCODED_BCC, references=("root@pharmacy.nhs.net", ENCODED_BCC[1:-1]))
        message = reply(mail)
        raw = message.as_bytes()
        assert "In-Reply-To" not in message
        assert message["References"] == "<root@pharmacy.nhs.net>"
        assert b"attacker" not in raw
        assert b"\nBcc" not in raw
        assert b"\nX-A:" not in raw

    def test_a_reply_to_ending_in_a_dot_gives_way_to_the_from_address(self) -> None:
        """The reply goes to a real address, never ``<>``."""
        assert reply(Mail(sender=PHARMACY, reply_to="desk@pharmacy.nhs.net."))["To"] == PHARMACY

    def test_a_from_with_no_domain_has_nobody_to_answer(self) -> None:
        """``From: bob`` gives a clear error for the caller to turn into a team item."""
        with pytest.raises(NoReplyAddressError):
            reply(Mail(sender="bob"))

    def test_an_idn_domain_is_written_in_its_ascii_form(self) -> None:
        """Any server can deliver it, so the message stays 7-bit."""
        raw = reply(Mail(sender="anne@bücher.example")).as_bytes()
        assert b"\nTo: anne@xn--bcher-kva.example\n" in raw
        assert raw.isascii()

    def test_a_utf8_local_part_is_written_as_utf8_never_as_an_encoded_word(self, tmp_path: Path) -> None:
        """RFC 6532: an encoded-word in an address is invalid, so the header is UTF-8, in the outbox too."""
        address = "jürgen@bücher.example"
        message = reply(Mail(sender=address))
        for raw in (message.as_bytes(), serialise(message, [address])):
            assert f"\nTo: {address}\n".encode() in raw
            assert b"=?" not in raw.split(b"\n\n", 1)[0]
        FileOutbox(tmp_path).send(message, key="k", recipients=[address])
        assert f"\nTo: {address}\n".encode() in (tmp_path / "k.eml").read_bytes()

    def test_the_file_outbox_writes_nothing_it_would_not_send(self, tmp_path: Path) -> None:
        """A message for someone other than its recipients is refused before a file is made."""
        with pytest.raises(UnsafeMessage):
            FileOutbox(tmp_path).send(reply(Mail(sender=PHARMACY)), key="k", recipients=["evil@attacker.example"])
        assert list(tmp_path.iterdir()) == []
