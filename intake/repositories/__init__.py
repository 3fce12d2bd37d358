"""The repositories a unit of work hands out: the ledger, the queue, the outbox, team tasks and the audit trail,
the practice list, follow-up calls, mailbox states, the team's notes, the workspace's accounts, the documents'
originals, and what retention purges.

Each wraps the unit of work's one session and speaks in the store's rows; none commits (the unit of work
does, once, for everything a command changed). Writes that must happen once per event take a key and say
whether they wrote: ``Outbox.enqueue`` and ``TeamTasks.open`` return False when a row with that key exists,
so processing the same event again after a crash is harmless.
"""

from intake.repositories.documents import Documents
from intake.repositories.messages import Ledger, Queue
from intake.repositories.outbox import RATE_WINDOW, REPLY_KINDS_PREFIX, Outbox
from intake.repositories.retention import Retention
from intake.repositories.service import FollowUps, Mailboxes, Practices
from intake.repositories.team import Audit, Notes, TeamTasks
from intake.repositories.users import Users

__all__ = [
    "RATE_WINDOW",
    "REPLY_KINDS_PREFIX",
    "Audit",
    "Documents",
    "FollowUps",
    "Ledger",
    "Mailboxes",
    "Notes",
    "Outbox",
    "Practices",
    "Queue",
    "Retention",
    "TeamTasks",
    "Users",
]
