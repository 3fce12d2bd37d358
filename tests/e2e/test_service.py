"""One referral inbox, end to end: sample mail in the Maildir, the service run, the queue and replies out."""

from __future__ import annotations

import email
import json
from collections import Counter
from email import policy

from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service, log_events, patient_values


def test_one_run_decides_every_sample_files_it_and_writes_the_replies(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, scenarios)

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert f"Took {len(scenarios)} message(s)" in result.stdout
    expected = Counter(s.expected_outcome for s in scenarios)
    decided = Counter(line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith("NMSS-"))
    assert decided == expected
    assert service.inbox() == []
    folders = {
        "accepted": "Accepted",
        "incomplete": "Incomplete",
        "misrouted": "Misrouted",
        "mar_registration": "MAR",
        "not_a_submission": "Other",
        "automatic": "Automatic",
    }
    assert service.folder_counts() == {
        folders[k]: n for k, n in sorted(expected.items(), key=lambda kv: folders[kv[0]])
    }

    replies = sorted(service.outbox.glob("*.eml"))
    assert len(replies) == expected["incomplete"] + expected["misrouted"]
    senders = {
        email.message_from_bytes(s.raw, policy=policy.default)["From"].addresses[0].addr_spec
        for s in scenarios
        if s.expected_outcome in ("incomplete", "misrouted")
    }
    for path in replies:
        reply = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["In-Reply-To"]
        assert reply["To"].addresses[0].addr_spec in senders
        assert "NMSS-" in reply["Subject"]
        assert "NHS 111" in reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"reply written to var/outbox/{path.name}" in result.stdout
    assert result.stdout.endswith(
        f'Wrote {len(replies)} email(s) to var/outbox; nothing was sent (outgoing.kind is "outbox").\n'
    )
    assert "Sent" not in result.stdout, "the file outbox writes files; it sends nothing"


def test_a_second_run_takes_nothing_and_sends_nothing_again(service: Service, scenarios: list[Scenario]) -> None:
    deliver_to_maildir(service.mailbox, scenarios)
    assert service.invoke("run", "--once").exit_code == 0
    replies = {p.name: p.read_bytes() for p in service.outbox.glob("*.eml")}
    queue = service.invoke("referrals", "list", "--json").stdout

    again = service.invoke("run", "--once")

    assert again.exit_code == 0
    assert again.stdout == "Nothing new in mailbox intake.\n"
    assert {p.name: p.read_bytes() for p in service.outbox.glob("*.eml")} == replies
    assert service.invoke("referrals", "list", "--json").stdout == queue


def test_the_queue_holds_the_accepted_referrals_and_the_mar_registration(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, scenarios)
    service.invoke("run", "--once")

    queue = json.loads(service.invoke("referrals", "list", "--json").stdout)

    expected = Counter(
        {
            "referral": sum(s.expected_outcome == "accepted" for s in scenarios),
            "mar_registration": sum(s.expected_outcome == "mar_registration" for s in scenarios),
        }
    )
    assert Counter(item["kind"] for item in queue) == expected
    assert all(item["nhs_number"].startswith("999") for item in queue)
    assert all(item["priority"] in ("urgent", "soon", "routine") for item in queue if item["kind"] == "referral")


def test_referrals_list_is_a_table_with_headings_and_the_patients_names(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, scenarios)
    service.invoke("run", "--once")
    queue = json.loads(service.invoke("referrals", "list", "--json").stdout)

    lines = service.invoke("referrals", "list").stdout.splitlines()

    assert lines[0].split() == [
        "Reference", "Kind", "Status", "Priority", "Received", "NHS", "number", "Patient", "Flags", "and", "reasons"
    ]  # fmt: skip
    assert len(lines) == 1 + len(queue)
    number_at, patient_at = lines[0].index("NHS number"), lines[0].index("Patient")
    for item, line in zip(queue, lines[1:], strict=True):
        number = item["nhs_number"]
        assert line.startswith(item["reference"])
        assert line[number_at:].startswith(f"{number[:3]} {number[3:6]} {number[6:]}")
        assert line[patient_at:].startswith(f"{item['surname'].upper()}, {item['forenames']}")


def test_the_log_and_the_replies_carry_no_patient_data(service: Service, scenarios: list[Scenario]) -> None:
    deliver_to_maildir(service.mailbox, scenarios)
    secrets = patient_values(scenarios)
    secrets |= {
        email.message_from_bytes(s.raw, policy=policy.default)["Subject"] for s in scenarios if "subject" in s.name
    }
    assert len(secrets) > 20, "the fixtures should carry plenty of patient values to look for"

    first = service.invoke("run", "--once")
    second = service.invoke("run", "--once")

    log = first.stderr + second.stderr
    assert log_events(first.stderr), "the run should have logged what it did"
    replies = "\n".join(readable(p.read_bytes()) for p in service.outbox.glob("*.eml"))
    for value in secrets:
        assert value not in log, "a patient value reached the log"
        assert value not in replies, "a patient value reached an automatic reply"


def readable(raw: bytes) -> str:
    """The reply as a person reads it: decoded headers and body, and the raw bytes too."""
    message = email.message_from_bytes(raw, policy=policy.default)
    headers = "\n".join(f"{k}: {v}" for k, v in message.items())
    body = message.get_body(("plain",))
    return "\n".join([headers, body.get_content() if body else "", raw.decode("utf-8", "replace")])
