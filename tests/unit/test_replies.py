"""build_reply and FileOutbox: the automatic reply a referrer receives, and how it reaches the outbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from config.settings import ServiceSettings
from notifier.errors import UnsafeMessage
from notifier.replies import NoReplyAddressError, build_hand_reply, build_reply, reply_text
from notifier.sender import Sender
from notifier.senders.outbox import FileOutbox
from parsers.addresses import parse_address
from parsers.mail import Mail, read_mail
from rules.automatic import automatic_reason
from rules.types import Problem, ReplyKind

SERVICE = ServiceSettings()
PHARMACY = "pharmacy.team@nhs.net"
NOW = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)
KINDS: tuple[ReplyKind, ...] = ("incomplete", "misrouted", "unreadable")
URGENT = "This is not an urgent service. For urgent medical help contact your GP, NHS 111 or 999."
PROBLEMS = (
    Problem(form="form1", field="signature.date", label="Date signed", code="missing"),
    Problem(form="form2", field="patient.nhs_number", label="NHS number", code="invalid_nhs_number"),
    Problem(form="form2", field="patient.dob", label="Date of birth", code="invalid_date"),
    Problem(form="form2", field="consent.given", label="Patient consent to referral obtained", code="must_be_yes"),
    Problem(form="form2", field="why_not_resolved", label="Why can adjustments not help?", code="something_new"),
)


def _original(**overrides: Any) -> Mail:
    base = Mail(
        message_id="orig.1@pharmacy.nhs.net",
        sender=PHARMACY,
        references=("root@pharmacy.nhs.net",),
        subject="Referral",
    )
    return replace(base, **overrides)


def _reply(
    kind: ReplyKind = "incomplete",
    mail: Mail | None = None,
    *,
    problems: Sequence[Problem] = PROBLEMS,
    missing_forms: Sequence[str] = ("Medication Independence Assessment Tool",),
    now: dt.datetime = NOW,
) -> EmailMessage:
    return build_reply(
        kind,
        mail=mail or _original(),
        problems=problems,
        missing_forms=missing_forms,
        reference="NMSS-7KQ2M4",
        service=SERVICE,
        now=now,
    )


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


class TestHeaders:
    def test_the_reply_goes_to_the_reply_to_address_when_there_is_one(self) -> None:
        """Reply-To wins over From, as a person's mail client would do."""
        assert _reply(mail=_original(reply_to="desk@pharmacy.nhs.net"))["To"] == "desk@pharmacy.nhs.net"
        assert _reply()["To"] == "pharmacy.team@nhs.net"

    def test_the_reply_comes_from_the_service_by_name(self) -> None:
        """The referrer sees the service's name and address."""
        assert _reply()["From"] == "Norfolk Medicines Support Service <agem.norfolkmedicineservices@nhs.net>"

    @pytest.mark.parametrize("kind", KINDS)
    def test_the_subject_gives_the_reference_and_never_the_original_subject(self, kind: ReplyKind) -> None:
        """Subjects often carry patient names, so ours is always our own, with the reference in it."""
        subject = str(_reply(kind, mail=_original(subject="Mrs Example referral"))["Subject"])
        assert subject.startswith("Your referral to the Norfolk Medicines Support Service")
        assert subject.endswith("reference NMSS-7KQ2M4")
        assert "Example" not in subject

    def test_the_reply_is_marked_automatic_as_rfc_3834_asks(self) -> None:
        """Auto-Submitted, X-Auto-Response-Suppress and a loop header are set; Precedence is not."""
        reply = _reply()
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["X-Auto-Response-Suppress"] == "All"
        assert reply["X-Loop"] == SERVICE.address
        assert "Precedence" not in reply

    def test_the_reply_threads_under_the_original(self) -> None:
        """In-Reply-To names the original; References is the original's References plus its Message-ID."""
        reply = _reply()
        assert reply["In-Reply-To"] == "<orig.1@pharmacy.nhs.net>"
        assert reply["References"] == "<root@pharmacy.nhs.net> <orig.1@pharmacy.nhs.net>"

    def test_the_message_id_is_ours_and_the_same_for_the_same_reply(self) -> None:
        """Same kind, reference and time give the same Message-ID on the service's domain; a later reply differs."""
        first = _reply()["Message-ID"]
        assert first == "<nmss-intake.reply.incomplete.NMSS-7KQ2M4.20250304T103000Z@nhs.net>"
        assert _reply()["Message-ID"] == first
        assert _reply(now=NOW + dt.timedelta(days=1))["Message-ID"] != first

    def test_the_date_is_when_the_reply_was_made(self) -> None:
        """Date comes from ``now``, not from a clock."""
        assert _reply()["Date"].datetime == NOW

    def test_our_own_reply_coming_back_is_recognised_as_automatic(self) -> None:
        """Fed back through read_mail, a reply is caught by the automatic-mail rules and never answered."""
        mail = read_mail(_reply().as_bytes())
        assert automatic_reason(mail, SERVICE.addresses, SERVICE.domain) == "auto-submitted"
        assert mail.message_id is not None

    def test_a_mail_with_no_address_cannot_be_answered(self) -> None:
        """No From and no Reply-To: the caller gets a clear error instead of a reply to nobody."""
        with pytest.raises(NoReplyAddressError):
            _reply(mail=_original(sender=None))

    def test_a_naive_time_is_refused(self) -> None:
        """A Date without a zone would be wrong for half the year."""
        with pytest.raises(ValueError, match="timezone-aware"):
            _reply(now=dt.datetime(2025, 3, 4, 10, 30))


class TestIncompleteBody:
    def test_the_body_names_each_missing_form(self) -> None:
        """Missing forms are listed by name."""
        assert "  - Medication Independence Assessment Tool" in _body(_reply())

    def test_missing_form_problems_are_listed_as_missing_forms_too(self) -> None:
        """A missing_form Problem is enough: the caller need not also pass its name."""
        problems = (Problem(form="form1", field=None, label="Form 1", code="missing_form"),)
        body = _body(_reply(problems=problems, missing_forms=[]))
        assert "These forms were not attached:\n  - Form 1\n" in body

    def test_the_body_names_each_field_by_its_label_under_its_form(self) -> None:
        """Each field problem reads as its printed label and a short reason, grouped by form."""
        body = _body(_reply())
        assert 'On Form 1:\n  - "Date signed" is empty\n' in body
        assert (
            "On Form 2:\n"
            '  - "NHS number" is not a valid NHS number\n'
            '  - "Date of birth" is not a valid date\n'
            '  - "Patient consent to referral obtained" must be Yes\n'
        ) in body

    def test_an_unknown_problem_code_still_names_the_field(self) -> None:
        """A code this module does not know reads as "needs checking" rather than disappearing."""
        assert '"Why can adjustments not help?" needs checking' in _body(_reply())

    def test_the_body_says_what_to_do_next_with_the_reference(self) -> None:
        """The referrer is told to reply with the forms, keeping the reference."""
        body = _body(_reply())
        assert "Your reference number is NMSS-7KQ2M4." in body
        assert "reply to this email with the completed forms" in body
        assert "keeping the reference NMSS-7KQ2M4 in the subject line" in body


class TestEveryKind:
    @pytest.mark.parametrize("kind", KINDS)
    def test_every_reply_gives_the_reference_opening_hours_telephone_and_urgent_advice(self, kind: ReplyKind) -> None:
        """The fixed parts every referrer needs are in all three replies."""
        body = _body(_reply(kind))
        assert "NMSS-7KQ2M4" in body
        assert SERVICE.opening_hours in body
        assert SERVICE.telephone in body
        assert URGENT in body

    def test_the_misrouted_reply_explains_the_pathway(self) -> None:
        """Form 1 goes to the pharmacy or dispensing surgery, which refers with Form 2, Form 1 and the MIAT."""
        body = " ".join(_body(_reply("misrouted")).split())
        assert "please give it to the patient's community pharmacy or dispensing GP surgery" in body
        assert "with Form 2, together with Form 1 and, if needed, the Medication Independence Assessment Tool" in body

    def test_the_unreadable_reply_says_the_team_will_check_by_hand(self) -> None:
        """The sender learns the form could not be read automatically and a person will look at it."""
        body = " ".join(_body(_reply("unreadable")).split())
        assert "could not be read automatically" in body
        assert "A member of the team will check it by hand" in body


class TestNoPatientData:
    PLANTED = (
        "Zebedee",
        "Quixotefield",
        "999 123 4567",
        "9991234567",
        "03/04/1941",
        "1941-04-03",
        "NR99 9ZZ",
        "Flat 7 Larkspur",
        "zebedee",
    )

    def _original_with_patient_data(self) -> Mail:
        message = EmailMessage()
        message["From"] = "Zebedee Quixotefield's carer <carer@example.org>"
        message["To"] = SERVICE.address
        message["Subject"] = "Referral Zebedee Quixotefield NHS 999 123 4567 DOB 03/04/1941 NR99 9ZZ"
        message["Message-ID"] = "<m1@example.org>"
        message.set_content("Zebedee Quixotefield, 1941-04-03, Flat 7 Larkspur Court, NR99 9ZZ, 9991234567")
        message.add_attachment(
            b"%PDF-1.7\n%%EOF", maintype="application", subtype="pdf", filename="Zebedee Quixotefield 9991234567.pdf"
        )
        return read_mail(message.as_bytes())

    @pytest.mark.parametrize("kind", KINDS)
    def test_no_patient_detail_from_the_original_appears_anywhere_in_the_reply(self, kind: ReplyKind) -> None:
        """Names, NHS number, date of birth, address and attachment names stay out of headers and body."""
        mail = self._original_with_patient_data()
        assert mail.attachments, "the planted attachment should have been read"
        reply = _reply(kind, mail=mail)
        raw = reply.as_bytes()
        reparsed = message_from_bytes(raw, policy=default)
        readable = "\n".join(f"{k}: {v}" for k, v in reparsed.items()) + "\n" + _body(reply)
        for planted in self.PLANTED:
            assert planted.encode() not in raw, planted
            assert planted not in readable, planted


class TestFileOutbox:
    def test_the_file_outbox_is_a_sender(self, tmp_path: Path) -> None:
        """FileOutbox satisfies the Sender protocol the pipeline depends on."""
        assert isinstance(FileOutbox(tmp_path), Sender)

    def test_a_sent_reply_is_written_as_an_eml_file_named_by_its_key(self, tmp_path: Path) -> None:
        """The message lands as <key>.eml and reads back with the same headers."""
        outbox = FileOutbox(tmp_path / "outbox")
        outbox.send(_reply(), recipients=[PHARMACY], key="reply-NMSS-7KQ2M4-incomplete")
        path = tmp_path / "outbox" / "reply-NMSS-7KQ2M4-incomplete.eml"
        assert path.is_file()
        assert message_from_bytes(path.read_bytes(), policy=default)["Auto-Submitted"] == "auto-replied"

    def test_sending_the_same_key_twice_leaves_one_file(self, tmp_path: Path) -> None:
        """A retry after a crash replaces the earlier copy rather than making a second one."""
        outbox = FileOutbox(tmp_path)
        outbox.send(_reply(), recipients=[PHARMACY], key="reply-1")
        outbox.send(_reply(now=NOW + dt.timedelta(minutes=5)), recipients=[PHARMACY], key="reply-1")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["reply-1.eml"]
        assert list(outbox.sent()) == ["reply-1"]

    def test_different_keys_give_different_files(self, tmp_path: Path) -> None:
        """Two replies are two files, even when their keys differ only in unsafe characters."""
        outbox = FileOutbox(tmp_path)
        for key in ("reply-1", "reply/1", "reply:1"):
            outbox.send(_reply(), recipients=[PHARMACY], key=key)
        assert len(list(tmp_path.glob("*.eml"))) == 3

    def test_a_key_cannot_write_outside_the_outbox(self, tmp_path: Path) -> None:
        """Slashes and dots in a key never make a path outside the folder."""
        outbox = FileOutbox(tmp_path / "outbox")
        outbox.send(_reply(), recipients=[PHARMACY], key="../../etc/passwd")
        assert [p.parent for p in (tmp_path / "outbox").iterdir()] == [tmp_path / "outbox"]
        assert not (tmp_path / "etc").exists()

    def test_no_temporary_files_are_left_behind(self, tmp_path: Path) -> None:
        """Only finished .eml files are in the folder after a send."""
        FileOutbox(tmp_path).send(_reply(), recipients=[PHARMACY], key="k")
        assert [p.name for p in tmp_path.iterdir()] == ["k.eml"]

    def test_an_empty_key_is_refused(self, tmp_path: Path) -> None:
        """Without a key there is no idempotency, so the send is refused."""
        with pytest.raises(ValueError, match="key"):
            FileOutbox(tmp_path).send(_reply(), recipients=[PHARMACY], key="")


@pytest.mark.parametrize("kind", KINDS)
def test_the_words_of_a_held_back_reply_are_those_the_automatic_reply_would_have_had(kind: ReplyKind) -> None:
    sent = _reply(kind)
    body = sent.get_body(("plain",))
    assert body is not None

    text = reply_text(
        kind,
        problems=PROBLEMS,
        missing_forms=("Medication Independence Assessment Tool",),
        reference="NMSS-7KQ2M4",
        service=SERVICE,
    )

    assert text.subject == sent["Subject"]
    assert text.body == body.get_content()


def test_a_reply_by_hand_comes_from_the_service_as_a_person_wrote_it() -> None:
    to = parse_address("Pharmacy.Team@NHS.net")
    assert to is not None

    message = build_hand_reply(
        to,
        subject="About your referral NMSS-TEST0001",
        body="Dear colleague,\r\nthank you.\r\n",
        reference="NMSS-TEST0001",
        service=SERVICE,
        now=NOW,
    )

    assert (message["To"], message["Subject"]) == ("Pharmacy.Team@nhs.net", "About your referral NMSS-TEST0001")
    assert message["From"] == f"{SERVICE.name} <{SERVICE.address}>"
    assert message["Auto-Submitted"] is None
    assert message["X-Loop"] == SERVICE.address
    assert str(message["Message-ID"]).startswith("<nmss-intake.hand.NMSS-TEST0001.20250304T103000Z@")
    assert message.get_content() == "Dear colleague,\nthank you.\n"


def test_a_reply_by_hand_with_a_subject_of_two_lines_is_refused() -> None:
    to = parse_address("pharmacy.team@nhs.net")
    assert to is not None
    with pytest.raises(UnsafeMessage):
        build_hand_reply(
            to, subject="Hello\r\nBcc: all@example.com", body="x", reference="NMSS-TEST0001", service=SERVICE, now=NOW
        )
