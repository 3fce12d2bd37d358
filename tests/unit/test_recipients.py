"""reply_address: who an automatic reply goes to, chosen once, from strictly parsed addresses."""

from __future__ import annotations

import pytest

from parsers.mail import Mail, read_mail
from rules.recipients import reply_address, typed_address

OURS = frozenset({"agem.norfolkmedicineservices@nhs.net"})
PERSON = "pharmacist.desk@pharmacy.example.org"


@pytest.mark.parametrize(
    ("mail", "expected"),
    [
        pytest.param(Mail(sender=PERSON), PERSON, id="From alone"),
        pytest.param(
            Mail(sender=PERSON, reply_to="team@pharmacy.example.org"), "team@pharmacy.example.org", id="Reply-To wins"
        ),
        pytest.param(Mail(sender=PERSON, reply_to="desk@pharmacy.example.org."), PERSON, id="Reply-To ending in a dot"),
        pytest.param(
            Mail(sender=PERSON, reply_to="agem.norfolkmedicineservices+intake@nhs.net"),
            PERSON,
            id="Reply-To is us, tagged",
        ),
        pytest.param(
            Mail(sender=PERSON, reply_to="=?utf-8?q?x=0D=0A?=@example.org"), PERSON, id="Reply-To encoded-word"
        ),
        pytest.param(Mail(sender="bob"), None, id="From: bob"),
        pytest.param(Mail(sender="bob", reply_to="bob"), None, id="no address anywhere"),
        pytest.param(Mail(sender="Agem.NorfolkMedicineServices@NHS.net"), None, id="only ourselves"),
        pytest.param(Mail(), None, id="no From and no Reply-To"),
        pytest.param(Mail(sender="anne@bücher.example"), "anne@xn--bcher-kva.example", id="IDN domain"),
    ],
)
def test_the_reply_goes_to_one_strictly_parsed_address_that_is_not_ours(mail: Mail, expected: str | None) -> None:
    """Reply-To, else From; what does not parse, or is us in any spelling, is passed over."""
    address = reply_address(mail, OURS)
    assert (address.header_form if address else None) == expected


def test_a_from_header_with_no_domain_is_read_but_has_nobody_to_answer() -> None:
    """``From: bob`` is kept as the sender (for the machine checks) but gives no reply address."""
    mail = read_mail(b"From: bob\r\nSubject: forms\r\n\r\nSee attached\r\n")
    assert mail.sender == "bob"
    assert reply_address(mail, OURS) is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("pharmacy.team@nhs.net", "pharmacy.team@nhs.net"),
        ("  Pharmacy.Team@NHS.NET ", "Pharmacy.Team@nhs.net"),
        ("Pharmacy <pharmacy.team@nhs.net>", None),
        ("a@nhs.net, b@nhs.net", None),
        ("=?utf-8?q?a?=@nhs.net", None),
        ("bob", None),
        ("NMSS+test@NHS.net", None),
        ("", None),
    ],
)
def test_an_address_typed_for_a_reply_by_hand_is_held_to_the_automatic_replies_rule(
    typed: str, expected: str | None
) -> None:
    address = typed_address(typed, ["nmss@nhs.net"])
    assert (address.addr_spec if address else None) == expected
