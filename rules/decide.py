"""The submission table of forms-spec.md: which forms arrived, what is wrong with them, and what happens next.

``decide`` is the functional core of the service: it takes plain data and returns an Outcome that says
which reply is due and what the team needs to know; the pipeline carries that out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from typing import Literal

from config.forms import FormDefinitions, FormKind
from parsers.types import Form, Unreadable
from rules.checks import form_problems
from rules.crossform import crossform_reasons, miat_score_warnings
from rules.eligibility import eligibility
from rules.patients import same_patient
from rules.types import Context, Outcome, Problem, ReplyKind, Submission
from rules.validate import is_secure_email

REFERRAL_FORMS: tuple[FormKind, ...] = ("form2", "form1", "miat")
UNREADABLE = frozenset({"scanned", "encrypted", "corrupt", "too_large", "timeout", "too_deep", "too_many_parts"})
NOT_OPENED_REASONS = {"too_deep": "nested_too_deep", "too_many_parts": "too_many_parts"}
"""Unreadable problems that mean the file was never opened, with the reason that tells the team where to look."""

UNREAD_MESSAGE_REASONS = {"timeout": "message_read_timeout", "too_large": "message_too_large_to_read"}
"""Why a message could not itself be read (its headers and MIME structure), as the reason the team sees."""


def decide(
    submission: Submission, definitions: FormDefinitions, today: dt.date, context: Context | None = None
) -> Outcome:
    """What happens to ``submission``, received when its ``received_at`` says, judged as of ``today``.

    A complete referral is then checked across its forms and for eligibility, with ``context`` (the practice
    list, the open referrals, the secure domains; default: no practice list, nothing open): any reason sends
    it to review with the reasons, never back to the referrer.
    """
    # A recognised form with nothing read from it (a flat PDF, for now, or a blank form) cannot be checked
    # automatically: listing every field as empty would tell the referrer something untrue.
    forms = [d for d in submission.documents if isinstance(d, Form) and d.fields]
    unreadable = [d for d in submission.documents if isinstance(d, Unreadable) and d.problem in UNREADABLE]
    unreadable += [
        Unreadable(d.filename, "unrecognised", d.kind)
        for d in submission.documents
        if isinstance(d, Form) and not d.fields
    ]
    kinds = tuple(dict.fromkeys(form.kind for form in forms))
    context = context or Context()
    outcome = _decide(forms, unreadable, kinds, definitions, today, submission.automatic)
    uncertain = ocr_uncertain(forms, definitions, today, context.ocr_min_confidence)
    if uncertain and outcome.kind in _DECIDED_BY_VALUES:
        # What OCR read unsurely (or not at all) may be the engine's mistake, not the referrer's: the team
        # checks it against the form, and the referrer is told no more than that it is being checked.
        outcome = Outcome(
            kind="review", forms=kinds, problems=uncertain, reply="unreadable", reasons=("ocr_uncertain",)
        )
    if outcome.kind == "accepted":
        outcome = _judge_complete_referral(outcome, forms, submission.received_at.date(), context)
    if outcome.reply is not None and submission.automatic is not None:
        # A machine sent this: answering it risks a mail loop, so the team answers by hand.
        return Outcome(
            kind=outcome.kind,
            forms=outcome.forms,
            problems=outcome.problems,
            reply=None,
            reasons=outcome.reasons,
            suppressed=submission.automatic,
            held_reply=outcome.reply,
        )
    return outcome


_DECIDED_BY_VALUES = frozenset({"accepted", "incomplete", "mar_registration"})
"""Outcomes that rest on the values read from the forms: the ones an uncertain OCR reading may not settle."""


def ocr_uncertain(
    forms: list[Form], definitions: FormDefinitions, today: dt.date, min_confidence: float
) -> tuple[Problem, ...]:
    """The fields of forms read by OCR that cannot be decided on: each value read less surely than
    ``min_confidence``, and each required field missing or failing its checks (the NHS number's check digit,
    a date, a postcode, an ODS code) — on a scan that may be the engine's misreading, never a guess to act on.
    """
    uncertain: list[Problem] = []
    for form in forms:
        if form.source != "ocr":
            continue
        definition = definitions[form.kind]
        failing = {p.field for p in form_problems(form, definition, today)}
        for field in definition.fields:
            confidence = form.confidence.get(field.key)
            unsure = field.key in form.fields and (confidence is None or confidence < min_confidence)
            if unsure or field.key in failing:
                uncertain.append(Problem(form=form.kind, field=field.key, label=field.label, code="ocr_uncertain"))
    return tuple(uncertain)


def decide_unread(problem: str) -> Outcome:
    """What happens to a message that could not itself be read: reading its headers and parts ran past the
    time limit (``timeout``) or the memory cap (``too_large``). The team checks it by hand. Nobody is answered:
    who sent it is unknown, since its headers were never read, and a reply could go to anyone they name.
    """
    return Outcome(kind="review", forms=(), reasons=(UNREAD_MESSAGE_REASONS.get(problem, "message_read_timeout"),))


def _judge_complete_referral(outcome: Outcome, forms: list[Form], received: dt.date, context: Context) -> Outcome:
    found = eligibility(forms, received, context.eligibility)
    by_kind = {form.kind: form.fields for form in forms}
    warnings = [*miat_score_warnings(by_kind.get("miat", {})), *found.warnings]
    email = by_kind.get("form2", {}).get("referrer.email")
    if isinstance(email, str) and not is_secure_email(email, context.secure_domains):
        warnings.append("referrer_email_not_secure")
    reasons = list(crossform_reasons(forms, received))
    number = by_kind.get("form2", {}).get("patient.nhs_number")
    if isinstance(number, str) and number in context.open_referrals:
        reasons.append("open_referral_exists")
    reasons.extend(found.reasons)
    return replace(
        outcome,
        kind="review" if reasons else "accepted",
        reasons=tuple(reasons),
        eligibility=found.reasons,
        warnings=tuple(warnings),
    )


def _decide(
    forms: list[Form],
    unreadable: list[Unreadable],
    kinds: tuple[FormKind, ...],
    definitions: FormDefinitions,
    today: dt.date,
    automatic: str | None,
) -> Outcome:
    if not forms and not unreadable:
        return Outcome(kind="automatic" if automatic else "not_a_submission", forms=())
    if unreadable:
        problems = tuple(
            Problem(
                form=d.kind,
                field=None,
                label=definitions[d.kind].name if d.kind else d.problem,
                code="nothing_read" if d.problem == "unrecognised" else d.problem,
            )
            for d in unreadable
        )
        not_opened = (NOT_OPENED_REASONS[d.problem] for d in unreadable if d.problem in NOT_OPENED_REASONS)
        reasons = ("unreadable_form", *dict.fromkeys(not_opened))
        return Outcome(kind="review", forms=kinds, problems=problems, reply="unreadable", reasons=reasons)
    repeated = [kind for kind, count in Counter(form.kind for form in forms).items() if count > 1]
    if repeated:
        return Outcome(kind="review", forms=kinds, reasons=("same_form_twice",))
    if not same_patient(forms):
        return Outcome(kind="review", forms=kinds, reasons=("different_patients",))
    referral = any(kind in kinds for kind in REFERRAL_FORMS)
    if referral and "mar" in kinds:
        return Outcome(kind="review", forms=kinds, reasons=("referral_and_mar_together",))
    if "mar" in kinds:
        return _complete_or_incomplete(forms, (), definitions, today, kinds, complete="mar_registration")
    if "form2" not in kinds and "form1" in kinds:
        return Outcome(kind="misrouted", forms=kinds, reply="misrouted")
    missing = tuple(kind for kind in REFERRAL_FORMS if kind not in kinds)
    return _complete_or_incomplete(forms, missing, definitions, today, kinds, complete="accepted")


def _complete_or_incomplete(
    forms: list[Form],
    missing_forms: tuple[FormKind, ...],
    definitions: FormDefinitions,
    today: dt.date,
    kinds: tuple[FormKind, ...],
    *,
    complete: Literal["accepted", "mar_registration"],
) -> Outcome:
    problems = [
        Problem(form=kind, field=None, label=definitions[kind].name, code="missing_form") for kind in missing_forms
    ]
    for form in sorted(forms, key=lambda f: list(definitions.forms).index(f.kind)):
        problems.extend(form_problems(form, definitions[form.kind], today))
    if problems:
        reply: ReplyKind = "incomplete"
        return Outcome(kind="incomplete", forms=kinds, problems=tuple(problems), reply=reply)
    return Outcome(kind=complete, forms=kinds)
