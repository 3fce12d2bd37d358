"""The words people read: one plain-English sentence per code, the only place these sentences live.

For the referrer (automatic replies): each problem code reads as a phrase after the field's printed label,
``"Date of birth" is empty``; never the value itself. For the team (queue, ``check``, digest): each reason,
warning and triage flag reads as one sentence. ``tests/unit/test_words.py`` renders every code.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.types import Problem

PROBLEM_PHRASES: Mapping[str, str] = {
    "missing": "is empty",
    "missing_form": "was not attached",
    "unanswered": "is not answered",
    "invalid_date": "is not a valid date",
    "date_in_future": "cannot be in the future",
    "implausible_date_of_birth": "is not a plausible date of birth",
    "invalid_number": "is not a valid number",
    "out_of_range": "is outside the allowed range",
    "unknown_option": "has an answer we do not recognise",
    "invalid_format": "is not in the expected format",
    "must_be_yes": "must be Yes",
    "must_be_no": "must be No",
    "invalid_nhs_number": "is not a valid NHS number",
    "nhs_number_check_digit": "is not a valid NHS number",
    "invalid_postcode": "is not a valid UK postcode",
    "invalid_phone": "is not a valid UK telephone number",
    "invalid_email": "is not a valid email address",
    "invalid_ods_code": "is not a valid ODS code",
    "invalid_gphc_number": "is not a valid GPhC registration number (7 digits)",
    "scanned": "is a scanned image, so it will be checked by the team",
    "encrypted": "is password-protected, so it will be checked by the team",
    "corrupt": "could not be opened, so it will be checked by the team",
    "too_large": "is too large to read automatically, so it will be checked by the team",
    "timeout": "took too long to read automatically, so it will be checked by the team",
    "too_deep": "is inside too many forwarded emails to read automatically, so it will be checked by the team",
    "too_many_parts": "came with more attachments than are read automatically, so it will be checked by the team",
    "nothing_read": "could not be read automatically, so it will be checked by the team",
    "ocr_uncertain": "was read from a scan or photo and not with certainty, so it will be checked by the team",
}
"""How each ``Problem.code`` reads after the field's (or form's) printed label."""

GENERIC_PHRASE = "needs checking"
"""What an unknown problem code reads as: the referrer still learns which field to look at."""

TEAM_SENTENCES: Mapping[str, str] = {
    # Why a submission went to review.
    "unreadable_form": "A form could not be read automatically: check it by hand.",
    "ocr_uncertain": (
        "A form was read from a scan or photo, and some of its fields were not read with certainty (or not "
        "at all): check the fields marked against the form."
    ),
    "nested_too_deep": (
        "A file is inside more forwarded emails or Outlook items than the service opens: open the email, follow "
        "the forwards to the innermost one and check its attachments by hand."
    ),
    "too_many_parts": "The email has more parts than the service reads: check all of its attachments by hand.",
    "same_form_twice": "The same form is attached more than once: check which copy is current.",
    "different_patients": "The forms name different patients (NHS number, or surname and date of birth).",
    "referral_and_mar_together": "A referral and a MAR chart registration came in one email: split them.",
    "pharmacy_differs": 'The MIAT\'s "Pharmacy / dispensary name" is not the pharmacy on Form 2.',
    "dates_out_of_order": (
        'The dates are out of order: "Date of Equality Act assessment", then the MIAT\'s "Date of assessment", '
        'then Form 2\'s "Date signed", then the day received.'
    ),
    "open_referral_exists": "This patient already has an open referral in the queue: it may be a duplicate.",
    "reply_without_forms": "A reply to one of the service's emails came with no form: read it and answer by hand.",
    "message_read_timeout": (
        "The email itself took too long to read automatically (its headers or layout are broken or built to "
        "stall a reader), so nobody was answered: check it and its attachments by hand, with care."
    ),
    "message_too_large_to_read": (
        "The email itself needed more memory to read than the service allows, so nobody was answered: check it "
        "and its attachments by hand, with care."
    ),
    # Eligibility (forms-spec.md): each a reason for review, never a rejection.
    "under_minimum_age": (
        'The patient is under the service\'s minimum age (18 unless configured) on the day received ("Date of birth").'
    ),
    "practice_not_in_list": 'The "GP practice code" is not an open practice in the service\'s list of practices.',
    "consent_not_given": 'The patient\'s consent is not recorded as Yes ("Patient consent to referral obtained").',
    "equality_act_pattern": (
        "The Equality Act answers are not the expected Yes (long-term impairment), No (could be assessed in "
        "the pharmacy or by telephone), Yes (adjustment for the patient)."
    ),
    "no_adjustment_tried": 'No reasonable adjustment is ticked under "Reasonable adjustments tried".',
    # Warnings: shown beside the referral, no review needed.
    "miat_score_differs": "A score printed on the MIAT disagrees with its items; the service used the items.",
    "practice_check_skipped": (
        "The GP practice was not checked: no practice list has been imported (nmss-intake practices import)."
    ),
    "referrer_email_not_secure": (
        'The "Referrer email" is not on a secure domain (nhs.net or the configured list): send no patient data to it.'
    ),
    # Triage flags: why the referral has its priority.
    "recent_discharge": "Discharged from hospital in the last 4 weeks.",
    "high_risk_medicines": "Takes high-risk medicines.",
    "many_medicines": "Takes many regular medicines (at or over the configured number).",
    "lives_alone_without_carer": "Lives alone with no carer support.",
    "miat_total_high": "The MIAT total score is at or over the configured threshold.",
    "miat_cognitive_high": "The MIAT cognitive score is at or over the configured threshold.",
    "miat_physical_high": "The MIAT physical score is at or over the configured threshold.",
    "storage_concerns": "The assessor noted concerns about how medicines are stored.",
    "assessor_refer_to_gp": 'The assessor\'s outcome is "Refer to GP for review".',
    "assessor_carer_administration": 'The assessor\'s outcome is "Carer administration (MAR chart)".',
    "assessor_compliance_aid": 'The assessor\'s outcome is "Compliance aid suitable".',
}
"""One sentence for the team per reason, warning and triage flag code."""


def problem_phrase(code: str) -> str:
    """How a problem code reads after a field's label: ``"is empty"``, ``"must be Yes"``, … or "needs checking"."""
    return PROBLEM_PHRASES.get(code, GENERIC_PHRASE)


def referrer_sentence(problem: Problem) -> str:
    """The sentence a referrer reads for ``problem``: its printed label and what is wrong, never its value."""
    label = " ".join(problem.label.split())
    return f'"{label}" {problem_phrase(problem.code)}.'


def team_sentence(code: str) -> str:
    """The sentence the team reads for a reason, warning or flag code; an unknown code (a flag added in the
    triage configuration) reads as itself, so nothing is hidden."""
    return TEAM_SENTENCES.get(code, f"Flag: {code.replace('_', ' ')}.")
