"""The workspace's accounts: who may sign in, with which role, and their argon2 password hashes.

A local account has a password (``nmss-intake users add EMAIL --role team --password-stdin``); an account
without one signs in only through OpenID Connect (NHSmail), matched by its email address. Addresses are kept
lower-cased, as Entra ID compares them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, insert, select, update

from intake.errors import IntakeError
from intake.store import UserAccount

ROLES = ("team", "admin")
"""``team`` sees and acts on everything about patients; ``admin`` also runs the service, the practice list and
the users."""

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
_table = UserAccount.__table__  # type: ignore[attr-defined]
_UNUSED_HASH = _hasher.hash("a password nobody has")
"""Checked against when an address has no account, so a wrong address takes as long as a wrong password."""


class AccountError(IntakeError):
    """An account cannot be made as asked: the message says what to change."""


@dataclass(frozen=True)
class Account:
    """Someone who may sign in."""

    email: str
    role: str
    has_password: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def normalise_email(email: str) -> str:
    """``email`` as accounts keep it: checked for syntax, lower-cased; AccountError when it is not an address."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{email.strip()!r} is not an email address: {exc}") from exc


def add_account(engine: Engine, email: str, role: str, password: str | None, *, now: dt.datetime) -> bool:
    """Make the account for ``email``, or change the role and password of the one there; True when it is new.

    ``password`` None leaves an account to OpenID Connect (an existing one keeps its password).
    """
    address = normalise_email(email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    hashed = _hasher.hash(password) if password is not None else None
    with engine.begin() as connection:
        existing = connection.execute(select(_table.c.id).where(_table.c.email == address)).first()
        if existing is None:
            connection.execute(insert(_table).values(email=address, role=role, password_hash=hashed, created_at=now))
            return True
        values: dict[str, object] = {"role": role}
        if hashed is not None:
            values["password_hash"] = hashed
        connection.execute(update(_table).where(_table.c.id == existing.id).values(**values))
        return False


def account(engine: Engine, email: str) -> Account | None:
    """The account for ``email``, or None."""
    try:
        address = normalise_email(email)
    except AccountError:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(_table.c.email, _table.c.role, _table.c.password_hash).where(_table.c.email == address)
        ).first()
    return Account(row.email, row.role, row.password_hash is not None) if row else None


def check_password(engine: Engine, email: str, password: str) -> Account | None:
    """The account when ``password`` is its password; None otherwise, taking as long whatever was wrong."""
    try:
        address = normalise_email(email)
    except AccountError:
        address = ""
    with engine.connect() as connection:
        row = connection.execute(
            select(_table.c.email, _table.c.role, _table.c.password_hash).where(_table.c.email == address)
        ).first()
    stored = row.password_hash if row is not None and row.password_hash else _UNUSED_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.password_hash:
        return None
    return Account(row.email, row.role, True)


def record_sign_in(engine: Engine, email: str, *, now: dt.datetime) -> None:
    """Note when ``email`` last signed in (for the users list)."""
    with engine.begin() as connection:
        connection.execute(update(_table).where(_table.c.email == email).values(last_signed_in_at=now))


def accounts(engine: Engine) -> list[Account]:
    """Every account, by address."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(_table.c.email, _table.c.role, _table.c.password_hash).order_by(_table.c.email)
        ).all()
    return [Account(row.email, row.role, row.password_hash is not None) for row in rows]
