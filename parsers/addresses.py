"""Strict syntax for what the service copies out of a message into its own: addresses and Message-IDs.

A value from an incoming message either parses strictly here and comes back in a form that is safe to write
into a header, or it is dropped (None): there is no repairing. Addresses are RFC 5321 addr-specs, with
internationalised ones (RFC 6531/6532) and IDN domains allowed, checked by ``email-validator`` (syntax only:
no DNS). Message-IDs are RFC 5322 msg-ids (``dot-atom-text "@" (dot-atom-text / no-fold-literal)``).

Both refuse anything that looks like an RFC 2047 encoded-word (``=?``). RFC 2047 forbids encoded-words in an
addr-spec or a msg-id, but Python's email package decodes them there when it writes a header, and an encoded
CR/LF then becomes a header line of its own (CVE-2024-6923, unfixed in the Python this service runs on).

``mailbox_key`` says which mailbox an address reaches, for limits and "is it us" checks: case and a
``+tag`` are spellings of one mailbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

__all__ = ["Address", "mailbox_key", "parse_address", "parse_message_id"]

MAX_MESSAGE_ID = 250
"""Longest id kept (without brackets): real ones are under 100 characters, and a header line stops at 998."""

MAX_ADDRESS = 254
"""Longest address RFC 5321 lets through an SMTP envelope; checked before any parsing, so a hostile header
of megabytes costs nothing."""

_ENCODED_WORD = "=?"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_NO_FOLD_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]*\]"
_MSG_ID = re.compile(rf"{_DOT_ATOM}@(?:{_DOT_ATOM}|{_NO_FOLD_LITERAL})")


@dataclass(frozen=True)
class Address:
    """An addr-spec that parsed strictly. ``domain`` is the Unicode form, lower-cased; ``ascii_domain`` its
    IDNA (``xn--``) form; ``local`` keeps its case (the part before ``@`` is the receiving server's business)."""

    local: str
    domain: str
    ascii_domain: str

    @property
    def addr_spec(self) -> str:
        """``local@domain``, as a person would write it."""
        return f"{self.local}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """Whether only an SMTPUTF8 server can deliver to it: the local part is not ASCII (an IDN domain
        alone is written in its ASCII form and goes anywhere)."""
        return not self.local.isascii()

    @property
    def header_form(self) -> str:
        """How to write it in a header and an SMTP envelope: ASCII wherever the address allows it."""
        return self.addr_spec if self.needs_smtputf8 else f"{self.local}@{self.ascii_domain}"


def parse_address(text: str | None) -> Address | None:
    """``text`` as an ``Address`` when it is exactly one valid addr-spec, else None.

    Refused: no ``@`` or no domain (``bob``), a domain without a dot or ending in a dot, quoted local parts,
    domain literals, display names or brackets, whitespace or control characters anywhere, and encoded-words.
    """
    if not text or len(text) > MAX_ADDRESS or _ENCODED_WORD in text or not text.isprintable() or text != text.strip():
        return None
    try:
        valid = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError:
        return None
    return Address(local=valid.local_part, domain=valid.domain.lower(), ascii_domain=valid.ascii_domain.lower())


def parse_message_id(text: str | None) -> str | None:
    """The id in ``text`` (``<id@host>`` or ``id@host``) without its brackets when it is a strict msg-id, else
    None. Refused too: encoded-words, and ids over ``MAX_MESSAGE_ID`` characters."""
    if not text:
        return None
    candidate = text[1:-1] if text.startswith("<") and text.endswith(">") else text
    if len(candidate) > MAX_MESSAGE_ID or _ENCODED_WORD in candidate or not _MSG_ID.fullmatch(candidate):
        return None
    return candidate


def mailbox_key(address: str) -> str:
    """The mailbox ``address`` reaches, for counting and comparing: lower-cased, a ``+tag`` dropped, an IDN
    domain in its ASCII form. ``X+referrals@NHS.NET`` and ``x@nhs.net`` give the same key. A bare local part
    (``MAILER-DAEMON``) gives its lower-cased self without the tag."""
    parsed = parse_address(address)
    if parsed is not None:
        local, at, domain = parsed.local, "@", parsed.ascii_domain
    elif "@" in address:
        local, at, domain = address.rpartition("@")
    else:
        local, at, domain = address, "", ""
    base, plus, _tag = local.partition("+")
    if plus and base:
        local = base
    return f"{local}{at}{domain}".lower()
