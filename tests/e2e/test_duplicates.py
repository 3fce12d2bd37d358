"""The same email delivered twice is one submission, however its headers changed on the way; a different
email is never taken for it. Driven through the real CLI (``run --once``)."""

from __future__ import annotations

import re

from samples.scenarios import Scenario, all_scenarios, deliver_to_maildir

from .conftest import Service, today

RELAY = (
    b"Received: from relay.example.nhs.net (relay.example.nhs.net [192.0.2.7]) by mx.nhs.net;\r\n"
    b"\tTue, 10 Mar 2026 09:00:01 +0000\r\n"
)


def deliver(service: Service, *raws: bytes) -> None:
    deliver_to_maildir(service.mailbox, [Scenario(f"m{i}", "", raw, "incomplete") for i, raw in enumerate(raws)])


def run(service: Service) -> list[tuple[str, str]]:
    """(reference, outcome) for each message the run took, in the order it printed them."""
    result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    taken = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("NMSS-")]
    return [(reference, outcome) for reference, outcome, *_ in taken]


def replies(service: Service) -> int:
    return len(list(service.outbox.glob("*.eml")))


def redelivered(raw: bytes) -> bytes:
    """``raw`` as a second delivery brings it: one more ``Received:`` line on top, and LF line endings (a
    Maildir file) where the first copy had CRLF (as IMAP gives it)."""
    return (RELAY + raw).replace(b"\r\n", b"\n")


def without_message_id(raw: bytes) -> bytes:
    return re.sub(rb"(?im)^Message-ID:[^\r\n]*\r?\n", b"", raw, count=1)


def with_message_id(raw: bytes, message_id: bytes) -> bytes:
    return re.sub(rb"(?im)^Message-ID:[^\r\n]*", b"Message-ID: " + message_id, raw, count=1)


def message_id(raw: bytes) -> bytes:
    found = re.search(rb"(?im)^Message-ID:\s*([^\r\n]*)", raw)
    assert found is not None
    return found.group(1)


def incomplete(seed: int) -> bytes:
    """An incomplete referral (Form 1 and the MIAT missing) for an invented patient; CRLF line endings."""
    [raw] = [s.raw for s in all_scenarios(today(), seed=seed) if s.expected_outcome == "incomplete"]
    assert b"\r\n" in raw
    return raw


def test_the_same_email_delivered_again_with_one_more_received_header_is_a_duplicate_with_no_second_reply(
    service: Service,
) -> None:
    raw = incomplete(seed=1)
    deliver(service, raw)
    [(reference, outcome)] = run(service)
    assert outcome == "incomplete"

    deliver(service, redelivered(raw))
    [(again, duplicate)] = run(service)

    assert (again, duplicate) == (reference, "duplicate"), "the same message keeps its reference"
    assert replies(service) == 1
    assert service.folder_counts() == {"Duplicate": 1, "Incomplete": 1}


def test_a_redelivery_of_an_email_without_a_message_id_is_known_by_its_content(service: Service) -> None:
    raw = without_message_id(incomplete(seed=2))
    assert raw != incomplete(seed=2)
    deliver(service, raw, redelivered(raw))

    assert sorted(outcome for _, outcome in run(service)) == ["duplicate", "incomplete"]
    assert replies(service) == 1


def test_a_different_email_with_a_copied_message_id_is_decided_on_its_own(service: Service) -> None:
    first, second = incomplete(seed=3), incomplete(seed=4)
    forged = with_message_id(second, message_id(first))
    assert message_id(forged) == message_id(first)
    deliver(service, first)
    [(reference, _)] = run(service)

    deliver(service, forged)
    [(own_reference, outcome)] = run(service)

    assert outcome == "incomplete", "same Message-ID, different content: not a duplicate"
    assert own_reference != reference
    assert replies(service) == 2
    assert service.folder_counts() == {"Incomplete": 2}
