"""The workspace's accounts: who may sign in, with which role and password hash."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from intake.store import UserAccount


class Users:
    """The accounts of the people who may sign in to the workspace, by their lower-cased email address."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_email(self, email: str) -> UserAccount | None:
        """The account of ``email`` (already normalised), or None."""
        return self.session.exec(select(UserAccount).where(UserAccount.email == email)).first()

    def all(self) -> Sequence[UserAccount]:
        """Every account, by address."""
        return self.session.exec(select(UserAccount).order_by(col(UserAccount.email))).all()

    def enabled_admins(self) -> list[UserAccount]:
        """The admins who can still sign in, locked for the rest of the transaction where the database can
        (PostgreSQL): two admins demoting each other at once cannot both see the other one left."""
        return list(
            self.session.exec(
                select(UserAccount)
                .where(UserAccount.role == "admin", col(UserAccount.disabled_at).is_(None))
                .with_for_update()
            ).all()
        )

    def save(self, user: UserAccount) -> None:
        """Keep ``user`` (new or changed)."""
        self.session.add(user)
