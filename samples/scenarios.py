"""Named sample submissions for the demo and the tests: one raw email each, with the outcome the service owes it.

Each scenario is a function of ``today`` and a seed and gives the same bytes every time it is called with them.
Subjects and attachment file names never carry the patient's name, except in ``accepted_name_in_subject``,
which exists to prove the service never echoes a subject back.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formataddr
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from config.forms import FormKind
from notifier.private_files import create_private, private_folder
from parsers.types import Value
from samples.emails import out_of_office_reply, plain_email, referral_email
from samples.forms import YesNoStyle, complete_values, fillable_pdf
from samples.people import Patient, form1_referrer, patient, seeded

Outcome = Literal["accepted", "incomplete", "misrouted", "mar_registration", "not_a_submission", "automatic"]

LONDON = ZoneInfo("Europe/London")

FILENAMES: dict[FormKind, str] = {
    "form2": "Form 2 - NMSS Referral.pdf",
    "form1": "Form1.pdf",
    "miat": "MIAT.pdf",
    "mar": "MAR chart registration.pdf",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    raw: bytes
    expected_outcome: Outcome


class _Draw:
    """The random choices of one scenario: seeded by its name too, so scenarios differ under one seed."""

    def __init__(self, name: str, today: dt.date, seed: int) -> None:
        self.rng = seeded("scenario", name, seed)
        self.today = today
        self.patient = patient(self.rng, today=today)
        self.referral_seed = self.rng.randrange(2**31)

    def sent_at(self) -> dt.datetime:
        """A time in the working day of ``today``, as an Exchange server stamps it."""
        moment = dt.time(self.rng.randint(9, 16), self.rng.randrange(60), self.rng.randrange(60))
        return dt.datetime.combine(self.today, moment, tzinfo=LONDON)

    def values(self, kind: FormKind) -> dict[str, Value]:
        return complete_values(kind, self.patient, today=self.today, seed=self.referral_seed)


def _pharmacy_sender(person: Patient) -> str:
    return formataddr((person.pharmacy.name, person.pharmacy.email))


def _pharmacy_body(person: Patient, what: str) -> str:
    pharmacist = person.pharmacy.pharmacist
    return (
        f"Good morning,\n\nPlease find attached {what}.\n\n"
        f"Kind regards\n\n{pharmacist.name}\n{pharmacist.role}\n{person.pharmacy.name}\n{person.pharmacy.phone}\n"
    )


def _referral(
    draw: _Draw,
    kinds: Iterable[FormKind],
    style: YesNoStyle = "checkbox",
    hierarchical: bool = True,
    drop: Iterable[tuple[FormKind, str]] = (),
) -> list[tuple[str, bytes]]:
    """The attachments of a referral; ``drop`` empties the named fields to make a form incomplete."""
    dropped = set(drop)
    attachments = []
    for kind in kinds:
        values = {k: v for k, v in draw.values(kind).items() if (kind, k) not in dropped}
        attachments.append((FILENAMES[kind], fillable_pdf(kind, values, yesno_style=style, hierarchical=hierarchical)))
    return attachments


def accepted(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("accepted", today, seed)
    raw = referral_email(
        attachments=_referral(draw, ("form2", "form1", "miat")),
        sender=_pharmacy_sender(draw.patient),
        subject="NMSS referral",
        date=draw.sent_at(),
        body=_pharmacy_body(draw.patient, "Form 2, Form 1 and the MIAT for a referral to NMSS"),
    )
    return Scenario("accepted", "Form 2, Form 1 and the MIAT, complete, from the patient's pharmacy.", raw, "accepted")


def accepted_name_in_subject(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("accepted_name_in_subject", today, seed)
    # Check-box pairs and flat field names: the other ways a fillable form arrives.
    raw = referral_email(
        attachments=_referral(draw, ("form2", "form1", "miat"), style="pair", hierarchical=False),
        sender=_pharmacy_sender(draw.patient),
        subject=f"NMSS referral - {draw.patient.surname}",
        date=draw.sent_at(),
        body=_pharmacy_body(draw.patient, "a new referral (Form 2, Form 1, MIAT)"),
    )
    return Scenario(
        "accepted_name_in_subject",
        "A complete referral whose subject carries the patient's surname: no reply or log may repeat it.",
        raw,
        "accepted",
    )


def incomplete(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("incomplete", today, seed)
    raw = referral_email(
        attachments=_referral(draw, ("form2", "form1"), drop=(("form2", "patient.dob"), ("form2", "consent.date"))),
        sender=_pharmacy_sender(draw.patient),
        subject="NMSS referral",
        date=draw.sent_at(),
        body=_pharmacy_body(draw.patient, "Form 2 and Form 1 for a referral to NMSS"),
    )
    return Scenario(
        "incomplete",
        "Form 2 and Form 1 without the MIAT; Form 2 leaves the date of birth and the consent date empty.",
        raw,
        "incomplete",
    )


def misrouted(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("misrouted", today, seed)
    relative = form1_referrer(draw.rng, draw.patient, role="Relative")
    values = complete_values("form1", draw.patient, today=today, seed=draw.referral_seed, referrer=relative)
    raw = referral_email(
        attachments=[(FILENAMES["form1"], fillable_pdf("form1", values))],
        sender=formataddr((relative.name, relative.email or "relative@example.com")),
        subject="Form for help with medicines",
        date=draw.sent_at(),
        body=f"Hello,\n\nI have filled in the attached form about my mother's tablets. "
        f"Could somebody call me about it please?\n\nThanks\n{relative.name.split()[0]}\n",
    )
    return Scenario("misrouted", "Form 1 alone, sent by a relative from a personal address.", raw, "misrouted")


def mar_registration(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("mar_registration", today, seed)
    raw = referral_email(
        attachments=_referral(draw, ("mar",), style="radio"),
        sender=_pharmacy_sender(draw.patient),
        subject="MAR chart registration",
        date=draw.sent_at(),
        body=_pharmacy_body(draw.patient, "a completed registration for NMSS MAR charts"),
    )
    return Scenario(
        "mar_registration",
        "A complete MAR chart registration, yes/no questions as radio groups.",
        raw,
        "mar_registration",
    )


def not_a_submission(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("not_a_submission", today, seed)
    raw = plain_email(
        sender=_pharmacy_sender(draw.patient),
        subject="Question about referrals",
        date=draw.sent_at(),
        body="Hello,\n\nDo you accept referrals for patients who live in a care home, or only at home?\n\n"
        f"Many thanks\n{draw.patient.pharmacy.technician.name}\n{draw.patient.pharmacy.name}\n",
    )
    return Scenario(
        "not_a_submission", "A question with no attachment: ordinary mail for the team.", raw, "not_a_submission"
    )


def automatic(today: dt.date, seed: int = 0) -> Scenario:
    draw = _Draw("automatic", today, seed)
    reference = f"NMSS-{today:%Y}-{draw.rng.randrange(1, 100000):05d}"
    raw = out_of_office_reply(
        sender=formataddr((draw.patient.pharmacy.pharmacist.name, draw.patient.pharmacy.email)),
        original_subject=f"NMSS referral received - reference {reference}",
        date=draw.sent_at(),
        in_reply_to=f"<{reference.lower()}@nmss-intake.nhs.net>",
    )
    return Scenario("automatic", "An out-of-office reply to one of the service's own messages.", raw, "automatic")


SCENARIOS: tuple[Callable[[dt.date, int], Scenario], ...] = (
    accepted,
    accepted_name_in_subject,
    incomplete,
    misrouted,
    mar_registration,
    not_a_submission,
    automatic,
)


def all_scenarios(today: dt.date, seed: int = 0) -> list[Scenario]:
    return [make(today, seed) for make in SCENARIOS]


def deliver_to_maildir(path: Path, scenarios: Iterable[Scenario]) -> list[Path]:
    """Drop each scenario's message into ``path/new``; the folder, its parents, tmp, new and cur are created when
    absent, 0700, and each message is a 0600 file: sample patients are invented, but the service treats every
    Maildir as holding real ones.

    Each message is written to ``tmp/`` and renamed into ``new/``, as Maildir delivery does, so a poller never
    sees half a file. (``mailbox.Maildir.add`` does the same, but creates the file with the umask's mode.)
    """
    for sub in ("tmp", "new", "cur"):
        private_folder(path / sub, kind="mailbox")
    delivered = []
    for scenario in scenarios:
        now = time.time_ns()
        name = f"{now // 10**9}.M{now // 1000 % 10**6}P{os.getpid()}R{secrets.token_hex(6)}.nmss-samples"
        temp = path / "tmp" / name
        with os.fdopen(create_private(temp), "wb") as handle:
            handle.write(scenario.raw)
        delivered.append(temp.rename(path / "new" / name))
    return delivered
