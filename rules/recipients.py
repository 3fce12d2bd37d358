"""Who an automatic reply goes to: the Reply-To address, else the From address, each parsed strictly.

Pure, and the one answer to the question: the shell asks it to decide whether a reply can be sent at all,
the notifier to address the reply, and the outbox row records it as the envelope recipient.
"""

from __future__ import annotations

from collections.abc import Iterable

from parsers.addresses import Address, mailbox_key, parse_address
from parsers.mail import Mail


def reply_address(mail: Mail, own_addresses: Iterable[str]) -> Address | None:
    """The address an automatic reply to ``mail`` goes to, or None when there is none to write to.

    Reply-To wins, as in a person's mail client. A Reply-To that does not parse strictly (a domain ending in
    a dot, an encoded-word, a bare name) or that is one of ``own_addresses`` in any spelling (case, a
    ``+tag``) is passed over for the From address; a From address that does not parse (``From: bob``) or is
    our own gives None. Whether the address is a machine's is ``automatic_reason``'s question, not this one.
    """
    ours = {mailbox_key(address) for address in own_addresses}
    for candidate in (mail.reply_to, mail.sender):
        address = parse_address(candidate)
        if address is not None and mailbox_key(address.addr_spec) not in ours:
            return address
    return None


def typed_address(text: str, own_addresses: Iterable[str]) -> Address | None:
    """The address a person typed for a reply by hand, held to the automatic replies' rule: one address that
    parses strictly (no display name, no second address, no encoded-word) and is not one of ``own_addresses``
    in any spelling; None otherwise."""
    address = parse_address(text.strip())
    if address is None or mailbox_key(address.addr_spec) in {mailbox_key(a) for a in own_addresses}:
        return None
    return address
