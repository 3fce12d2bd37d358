"""Invented patients, the four forms as fillable PDFs, and emails carrying them: data for the demo and tests.

Everything here is made up and deterministic from a seed. Needs the ``samples`` extra (reportlab, pypdf).
"""

from samples.emails import out_of_office_reply, plain_email, referral_email
from samples.forms import complete_values, fillable_pdf
from samples.people import Patient, is_valid_nhs_number, patient
from samples.scenarios import Scenario, all_scenarios, deliver_to_maildir

__all__ = [
    "Patient",
    "Scenario",
    "all_scenarios",
    "complete_values",
    "deliver_to_maildir",
    "fillable_pdf",
    "is_valid_nhs_number",
    "out_of_office_reply",
    "patient",
    "plain_email",
    "referral_email",
]
