"""A 1 GB message in the Maildir: measured before it is read, quarantined for the team, and the mail behind it
is decided in the same run.

The big message is a sparse file (``os.truncate``): it measures 1.03 GiB and takes no disk space.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

from sqlmodel import Session, select

from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.store import AuditEvent, MessageRecord, QuarantineRecord
from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service

GIGABYTE = 1_105_954_816  # 1.03 GiB, as the message that blocked the mailbox
LIMIT = 80 * 1024 * 1024  # limits.max_message_bytes, the default


def deliver_sparse(mailbox: Path, size: int) -> Path:
    """A message of ``size`` bytes in ``mailbox/new``, delivered a minute ago: a header, then a hole."""
    for sub in ("tmp", "new", "cur"):
        (mailbox / sub).mkdir(parents=True, exist_ok=True)
    path = mailbox / "new" / "1772409600.M1P1.oversize"
    path.write_bytes(b"From: pharmacy.team@nhs.net\r\nSubject: Referral\r\n\r\n")
    os.truncate(path, size)
    a_minute_ago = time.time() - 60  # oldest first: the big message is in front of the referral
    os.utime(path, (a_minute_ago, a_minute_ago))
    return path


def peak_memory_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux counts kilobytes


def test_a_1_gb_message_is_quarantined_unread_and_the_referral_behind_it_is_decided_in_the_same_run(
    service: Service, scenarios: list[Scenario]
) -> None:
    big = deliver_sparse(service.mailbox, GIGABYTE)
    referral = next(s for s in scenarios if s.expected_outcome == "accepted")
    deliver_to_maildir(service.mailbox, [referral])
    peak_before = peak_memory_bytes()

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    outcomes = [line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith("NMSS-")]
    assert outcomes == ["quarantined", "accepted"]
    assert service.inbox() == []
    assert service.folder_counts() == {"Accepted": 1, "Quarantine": 1}
    [filed] = (service.mailbox / ".Quarantine" / "cur").iterdir()
    assert filed.name.startswith(big.name)
    assert filed.stat().st_size == GIGABYTE, "the message itself stays in the mailbox for the team"
    assert peak_memory_bytes() - peak_before < 256 * 1024 * 1024, "the service never held the message"


def test_the_team_sees_the_message_over_the_limit_and_the_database_keeps_nothing_of_it(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_sparse(service.mailbox, GIGABYTE)
    service.invoke("run", "--once")

    status = json.loads(service.invoke("status", "--json").stdout)

    [quarantined] = status["quarantined"]
    assert quarantined["error"] == "too_large"
    app = bootstrap(load_settings())
    with Session(app.engine) as session:
        ledger = session.exec(select(MessageRecord)).one()
        kept = session.exec(select(QuarantineRecord)).one()
        [item] = session.exec(select(AuditEvent).where(AuditEvent.event == "quarantined")).all()
    assert (ledger.size, ledger.state, ledger.filed_in) == (GIGABYTE, "quarantined", "Quarantine")
    assert kept.raw == b""
    assert json.loads(item.detail) == {"error": "too_large", "size": GIGABYTE, "limit": LIMIT}
    [task] = json.loads(service.invoke("tasks", "list", "--json").stdout)
    assert task["action"] == (
        f"handle message {ledger.id} from the Quarantine folder: it was over the size limit and was not read"
    )


def test_a_message_quarantined_for_its_size_cannot_be_replayed_and_says_why_in_one_line(
    service: Service,
) -> None:
    deliver_sparse(service.mailbox, GIGABYTE)
    service.invoke("run", "--once")
    [quarantined] = json.loads(service.invoke("status", "--json").stdout)["quarantined"]

    result = service.invoke("replay", str(quarantined["id"]))

    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: message {quarantined['id']} was over the size limit and was never read: "
        "handle it from the Quarantine folder\n",
    )
    assert json.loads(service.invoke("status", "--json").stdout)["quarantined"] == [quarantined]
