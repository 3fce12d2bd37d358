"""The workspace's accounts: who may sign in, with which role, and their argon2 password hashes.

A local account has a password (``nmss-intake users add EMAIL --role team --password-stdin``); an account
without one signs in only through OpenID Connect (NHSmail), matched by its email address. Addresses are kept
lower-cased, as Entra ID compares them. This module holds the rules about accounts; they are read through
``intake.views`` and changed through ``intake.commands``, in a unit of work.

A disabled account keeps its row and history and cannot sign in; a password an admin made for someone works
for one sign-in, after which its owner chooses their own. No change may leave the workspace without an admin
who can sign in.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from intake.errors import IntakeError
from intake.store import UserAccount

ROLES = ("team", "admin")
"""``team`` sees and acts on everything about patients; ``admin`` also runs the service, the practice list and
the users."""

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
_UNUSED_HASH = _hasher.hash("a password nobody has")
"""Checked against when an address has no account, so a wrong address takes as long as a wrong password."""


class AccountError(IntakeError):
    """An account cannot be made or changed as asked: the message says what to change."""


class AccountExists(AccountError):
    """Raised when an account is added for an address that has one (and replacing it was not asked for)."""


class UnknownAccount(AccountError):
    """Raised when no account has the address given."""


class LastAdmin(AccountError):
    """Raised when a change would leave no admin who can sign in."""


class NoPassword(AccountError):
    """Raised when a password is to be reset for an account that signs in with NHSmail and has none."""


@dataclass(frozen=True)
class Account:
    """Someone who may sign in (or could, before they were disabled)."""

    email: str
    role: str
    has_password: bool
    disabled: bool = False
    must_change_password: bool = False
    last_signed_in_at: dt.datetime | None = None
    session_epoch: int = 0
    """A session signed in while the account had another epoch no longer counts (a changed password ends it)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def account_of(row: UserAccount) -> Account:
    """The account a stored row describes (never its hash)."""
    return Account(
        email=row.email,
        role=row.role,
        has_password=row.password_hash is not None,
        disabled=row.disabled_at is not None,
        must_change_password=row.password_must_change,
        last_signed_in_at=row.last_signed_in_at,
        session_epoch=row.session_epoch,
    )


def new_one_time_password() -> str:
    """A password an admin hands to someone for their next sign-in (20 characters, 120 bits)."""
    return secrets.token_urlsafe(15)


def normalise_email(email: str) -> str:
    """``email`` as accounts keep it: checked for syntax, lower-cased; AccountError when it is not an address."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{email.strip()!r} is not an email address: {exc}") from exc


def check_role(role: str) -> str:
    """``role`` when it is one of ``ROLES``; AccountError otherwise."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    """The argon2 hash kept for ``password``; AccountError when it is too short to be kept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(row: UserAccount | None, password: str) -> bool:
    """Whether ``password`` is the password of ``row``; as slow when there is no row or no password, so that
    the time taken does not tell which addresses have accounts."""
    stored = row.password_hash if row is not None and row.password_hash else _UNUSED_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return row is not None and bool(row.password_hash)
