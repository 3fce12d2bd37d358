"""Strict syntax for the addresses and Message-IDs a reply copies from the original (parsers/addresses.py)."""

from __future__ import annotations

import pytest

from parsers.addresses import Address, mailbox_key, parse_address, parse_message_id


@pytest.mark.parametrize(
    ("text", "header_form"),
    [
        pytest.param("pharmacy.team@nhs.net", "pharmacy.team@nhs.net", id="an NHSmail address"),
        pytest.param("fake.pharmacy+referrals@nhs.net", "fake.pharmacy+referrals@nhs.net", id="a plus-address"),
        pytest.param("Desk@Pharmacy.NHS.net", "Desk@pharmacy.nhs.net", id="the domain is lower-cased"),
        pytest.param("anne@bücher.example.de", "anne@xn--bcher-kva.example.de", id="IDN domain in ASCII"),
        pytest.param("jürgen@bücher.example.de", "jürgen@bücher.example.de", id="UTF-8 local part stays UTF-8"),
        pytest.param("o'brien@pharmacy.example.org", "o'brien@pharmacy.example.org", id="an apostrophe is atext"),
    ],
)
def test_a_valid_address_comes_back_in_the_form_a_header_needs(text: str, header_form: str) -> None:
    """Every real address shape parses, and is written as ASCII wherever the address allows it."""
    address = parse_address(text)
    assert address is not None
    assert address.header_form == header_form


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("bob", id="no domain"),
        pytest.param("bob@", id="empty domain"),
        pytest.param("@nhs.net", id="empty local part"),
        pytest.param("desk@pharmacy.example.org.", id="domain ending in a dot"),
        pytest.param("desk@localhost", id="domain without a dot"),
        pytest.param("a..b@nhs.net", id="two dots in a row"),
        pytest.param('"a b"@nhs.net', id="quoted local part"),
        pytest.param("a@[192.0.2.1]", id="domain literal"),
        pytest.param("Desk <desk@nhs.net>", id="display name"),
        pytest.param("<desk@nhs.net>", id="angle brackets"),
        pytest.param(" desk@nhs.net", id="leading space"),
        pytest.param("desk@nhs.net\r\nBcc: evil@attacker.example", id="CR LF"),
        pytest.param("=?utf-8?q?x=0D=0A?=@example.org", id="encoded-word local part"),
        pytest.param("x@=?utf-8?q?example.org=0D=0ABcc:_e@attacker.example?=", id="encoded-word domain"),
        pytest.param(f"{'a' * 64}@{'b' * 200}.example.org", id="longer than an envelope allows"),
        pytest.param("", id="empty"),
        pytest.param(None, id="absent"),
    ],
)
def test_anything_but_one_strict_addr_spec_is_refused(text: str | None) -> None:
    """What does not parse strictly is dropped, never repaired."""
    assert parse_address(text) is None


def test_only_a_utf8_local_part_needs_smtputf8() -> None:
    """An IDN domain has an ASCII form; a UTF-8 local part has none."""
    assert parse_address("jürgen@example.de") == Address("jürgen", "example.de", "example.de")
    assert parse_address("jürgen@example.de").needs_smtputf8  # type: ignore[union-attr]
    assert not parse_address("anne@bücher.de").needs_smtputf8  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("<orig.1@pharmacy.nhs.net>", "orig.1@pharmacy.nhs.net", id="bracketed"),
        pytest.param("orig.1@pharmacy.nhs.net", "orig.1@pharmacy.nhs.net", id="bare"),
        pytest.param(
            "<AM0PR07MB1234.eurprd07.prod.outlook.com@AM0PR07MB1234.eurprd07.prod.outlook.com>",
            "AM0PR07MB1234.eurprd07.prod.outlook.com@AM0PR07MB1234.eurprd07.prod.outlook.com",
            id="Exchange Online",
        ),
        pytest.param("<1234.5678@[192.0.2.1]>", "1234.5678@[192.0.2.1]", id="no-fold literal"),
        pytest.param("<CAF+x=y/z_1~@mail.example.com>", "CAF+x=y/z_1~@mail.example.com", id="Gmail's atext"),
        pytest.param(
            "<nmss-intake.reply.incomplete.NMSS-7KQ2M4PA.20250304T103000Z@nhs.net>",
            "nmss-intake.reply.incomplete.NMSS-7KQ2M4PA.20250304T103000Z@nhs.net",
            id="our own",
        ),
        pytest.param(
            "<=?utf-8?q?x=0D=0ABcc:_evil1@attacker.example=0D=0AX-A:_?=@example.org>", None, id="the reported attack"
        ),
        pytest.param("<=?utf-8?q?x=0D=0A=0D=0Abody?=@example.org>", None, id="encoded-word of atext only"),
        pytest.param("<a@b>\r\nBcc: evil@attacker.example", None, id="CR LF"),
        pytest.param("<a b@example.org>", None, id="space"),
        pytest.param("<a..b@example.org>", None, id="two dots"),
        pytest.param("<no-at-sign>", None, id="no @"),
        pytest.param('<"quoted"@example.org>', None, id="quoted id-left"),
        pytest.param(f"<{'a' * 250}@example.org>", None, id="too long"),
        pytest.param("<ü@example.org>", None, id="not ASCII"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_message_ids_are_kept_only_when_they_are_strict_msg_ids(text: str | None, expected: str | None) -> None:
    """Real ids from every common client pass; anything a lenient reader could decode into a header is dropped."""
    assert parse_message_id(text) == expected


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        pytest.param("fake.pharmacy+referrals@nhs.net", "fake.pharmacy@nhs.net", id="plus-tag"),
        pytest.param("FAKE.PHARMACY@NHS.NET", "fake.pharmacy@nhs.net", id="upper case"),
        pytest.param("Fake.Pharmacy+A+B@Nhs.Net", "fake.pharmacy@nhs.net", id="both, two plus signs"),
        pytest.param("anne@BÜCHER.de", "anne@xn--bcher-kva.de", id="IDN domain"),
        pytest.param("+tag@nhs.net", "+tag@nhs.net", id="nothing before the plus"),
        pytest.param("MAILER-DAEMON", "mailer-daemon", id="bare local part"),
    ],
)
def test_every_spelling_of_a_mailbox_gives_one_key(spelling: str, key: str) -> None:
    """Case and a +tag are spellings of one mailbox."""
    assert mailbox_key(spelling) == key
