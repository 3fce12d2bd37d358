"""The composition root: every mailbox and sender kind the settings allow builds itself, connecting to nothing.

In the integration tier because building them imports exchangelib and msal, which take seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from config.settings import MailboxSettings, OutgoingSettings, Settings
from intake.bootstrap import MAILBOXES, SENDERS, make_mailbox, make_sender
from intake.mailbox import Mailbox
from intake.store import make_engine
from notifier.sender import Sender

MAILBOX_KINDS = get_args(MailboxSettings.model_fields["kind"].annotation)
SENDER_KINDS = get_args(OutgoingSettings.model_fields["kind"].annotation)
LIMIT = 12_345_678

_ENTRA = {"tenant_id": "tenant", "client_id": "client", "client_secret": "secret"}
COMPLETE: dict[str, dict[str, Any]] = {
    # What each kind needs before the settings accept it (start-up names anything missing), all invented.
    "imap": {"host": "imap.example.org", "username": "intake@example.org", "oauth": _ENTRA},
    "graph": {**_ENTRA, "user": "intake@example.org"},
    "ews": {"server": "mail.example.org", "address": "intake@example.org", "username": "u", "password": "p"},
    "smtp": {"host": "smtp.example.org", "auth": "xoauth2", "oauth": _ENTRA},
}


def settings(tmp_path: Path, **sections: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/nmss.db",  # type: ignore[arg-type]
        limits={"max_message_bytes": LIMIT},  # type: ignore[arg-type]
        **sections,
    )


def test_each_kind_the_settings_allow_has_one_adapter() -> None:
    assert sorted(MAILBOXES) == sorted(MAILBOX_KINDS)
    assert sorted(SENDERS) == sorted(SENDER_KINDS)


@pytest.mark.parametrize("kind", MAILBOX_KINDS)
def test_every_mailbox_builds_itself_from_the_settings_with_the_size_limit(kind: str, tmp_path: Path) -> None:
    configured = settings(
        tmp_path, mailbox={"kind": kind, "name": "intake", "path": tmp_path / "mail", **_section(kind)}
    )

    mailbox = make_mailbox(configured, make_engine(configured.database_url.get_secret_value()))

    assert isinstance(mailbox, Mailbox)
    assert type(mailbox).__name__ == MAILBOXES[kind].rpartition(":")[2]
    assert mailbox.name == "intake"
    assert getattr(mailbox, "max_message_bytes", None) == LIMIT


@pytest.mark.parametrize("kind", SENDER_KINDS)
def test_every_sender_builds_itself_from_the_settings(kind: str, tmp_path: Path) -> None:
    configured = settings(tmp_path, outgoing={"kind": kind, "outbox_path": tmp_path / "outbox", **_section(kind)})

    sender = make_sender(configured)

    assert isinstance(sender, Sender)
    assert type(sender).__name__ == SENDERS[kind].rpartition(":")[2]


def _section(kind: str) -> dict[str, Any]:
    return {kind: COMPLETE[kind]} if kind in COMPLETE else {}
