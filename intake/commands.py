"""The service layer: each thing a person can do, as a function that takes a unit of work.

Record a home assessment, record a follow-up call, resolve a team task, reply by hand, accept a referral
from review, decline one, add a note, record who saw a referral, send a failed email again, add an account,
change its role, disable or enable it, give it a new one-time password, choose a password and sign in — and,
in their own modules for their size, replay a quarantined message (``intake.replay.replay``) and import the
practice list (``intake.practices.import_practice_list``). Each checks what it is asked, changes the store
through the unit of work's repositories and commits once; a refusal raises an ``IntakeError`` whose message
is one line for the person, and changes nothing. The CLI's commands and the web pages call these, never the
store. Purging what retention makes due is one too, committing a batch at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from config.settings import ServiceSettings
from intake.accounts import (
    Account,
    AccountError,
    AccountExists,
    LastAdmin,
    NoPassword,
    UnknownAccount,
    account_of,
    check_role,
    hash_password,
    new_one_time_password,
    normalise_email,
    password_matches,
)
from intake.errors import IntakeError
from intake.practices import import_practice_list, import_practices
from intake.replay import replay
from intake.store import AssessmentRecord, FollowUpRecord, ReferralNote, ReferralRecord, UserAccount
from intake.unit_of_work import UnitOfWork
from intake.views import HAND_REPLY_TASKS, PRIORITIES, STATUSES, TaskView, due_call, tasks
from notifier.digest import DueCall
from notifier.errors import UnsafeMessage
from notifier.replies import build_hand_reply
from rules.calendar import local_day
from rules.followups import FollowUp, schedule_follow_ups
from rules.recipients import typed_address
from rules.retention import RetentionPeriods, RetentionPlan, due_for_purge

MAX_SUBJECT = 200
"""Longest subject a reply by hand may have: the automatic replies' are under 120 characters."""

MAX_TEXT = 20_000
"""Longest note, reason or reply a person may write: far more than anyone types, far less than a page can post."""

log = structlog.get_logger("intake.commands")

__all__ = [
    "AccountError",
    "AccountExists",
    "Assessed",
    "FollowUpAlreadyDone",
    "HandReply",
    "InvalidAssessmentDate",
    "InvalidHandReply",
    "LastAdmin",
    "NewPassword",
    "NoPassword",
    "NotAReferral",
    "NotForReview",
    "ReferralClosed",
    "TaskAlreadyDone",
    "UnknownAccount",
    "UnknownEmail",
    "UnknownFollowUp",
    "UnknownReferral",
    "UnknownTask",
    "accept_referral",
    "add_account",
    "add_note",
    "change_role",
    "choose_password",
    "decline_referral",
    "disable_account",
    "enable_account",
    "import_practice_list",
    "import_practices",
    "purge",
    "record_assessment",
    "record_call",
    "record_listing",
    "record_view",
    "replay",
    "reset_password",
    "resolve_task",
    "send_again",
    "send_hand_reply",
    "sign_in",
    "sign_in_verified",
]


class UnknownReferral(IntakeError):
    """Raised when no referral in the queue has the reference given."""


class NotAReferral(IntakeError):
    """Raised when a home assessment is recorded against a MAR chart registration, which has none."""


class InvalidAssessmentDate(IntakeError):
    """Raised when an assessment date is in the future or before the referral was received."""


class UnknownFollowUp(IntakeError):
    """Raised when no follow-up call has the id given."""


class FollowUpAlreadyDone(IntakeError):
    """Raised when a follow-up call that was already recorded as made is marked done again."""


class UnknownTask(IntakeError):
    """Raised when no team task has the id given."""


class TaskAlreadyDone(IntakeError):
    """Raised when a task that was resolved before is resolved again (its note is kept)."""


class NotForReview(IntakeError):
    """Raised when a referral that is not waiting for review is accepted from review."""


class ReferralClosed(IntakeError):
    """Raised when a referral that was declined, or whose home assessment is recorded, is acted on as open."""


class InvalidHandReply(IntakeError):
    """Raised when a reply by hand cannot be sent as written: ``field`` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class HandReply:
    """What ``send_hand_reply`` did: to whom, and whether this call put it in the outbox (False: it was there
    already, from an earlier submit of the same reply)."""

    task_id: int
    reference: str
    to: str
    sent: bool


class UnknownEmail(IntakeError):
    """Raised when no email the outbox gave up on has the id given (never failed, or sent again already)."""


@dataclass(frozen=True)
class Assessed:
    """What ``record_assessment`` did: the referral, the date, its calls, and whether an earlier date changed."""

    reference: str
    assessed_on: dt.date
    calls: tuple[FollowUp, ...]
    previous: dt.date | None


def record_assessment(
    uow: UnitOfWork, reference: str, assessed_on: dt.date, *, today: dt.date, now: dt.datetime
) -> Assessed:
    """Record the home assessment of referral ``reference`` on ``assessed_on`` and schedule its three calls.

    Recording the same date again changes nothing. A different date moves the calls not yet made (and lets
    each be reminded again on its new date); calls already made keep their record.

    Raises:
        UnknownReferral: no referral has ``reference``.
        NotAReferral: ``reference`` is a MAR chart registration.
        InvalidAssessmentDate: ``assessed_on`` is after ``today`` or before the referral was received.
    """
    calls = schedule_follow_ups(assessed_on)
    referral = _referral(uow, reference)
    assert referral.id is not None
    if referral.kind != "referral":
        raise NotAReferral(f"{reference} is a MAR chart registration: it has no home assessment")
    if referral.status not in STATUSES:
        raise ReferralClosed(f"{reference} was declined: it has no home assessment")
    received = _received_on(uow, referral)
    if assessed_on > today:
        raise InvalidAssessmentDate(f"the assessment date {assessed_on} is in the future")
    if assessed_on < received:
        raise InvalidAssessmentDate(f"the assessment date {assessed_on} is before the referral arrived ({received})")
    assessment = uow.followups.assessment(referral.id)
    previous = assessment.assessed_on if assessment is not None else None
    if previous == assessed_on:
        return Assessed(reference, assessed_on, calls, previous)
    if assessment is None:
        assessment = AssessmentRecord(referral_id=referral.id, assessed_on=assessed_on, recorded_at=now)
    assessment.assessed_on = assessed_on
    assessment.recorded_at = now
    uow.followups.save(assessment)
    existing = uow.followups.calls_of(referral.id)
    for call in calls:
        row = existing.get(call.kind)
        if row is None:
            uow.followups.save(FollowUpRecord(referral_id=referral.id, kind=call.kind, due=call.due))
        elif row.done_at is None:
            row.due = call.due
            row.reminded_at = None
            uow.followups.save(row)
    uow.commit()
    log.info("assessment_recorded", reference=reference, state="moved" if previous else "recorded")
    return Assessed(reference, assessed_on, calls, previous)


def record_call(uow: UnitOfWork, followup_id: int, outcome: str, *, now: dt.datetime) -> DueCall:
    """Record follow-up call ``followup_id`` as made, with the team's note ``outcome``; returns the call.

    Raises:
        UnknownFollowUp: no call has that id.
        FollowUpAlreadyDone: the call was recorded as made before (its note is kept).
        ValueError: ``outcome`` is blank.
    """
    text = _filled(outcome, "outcome")
    call = uow.followups.call(followup_id)
    if call is None:
        raise UnknownFollowUp(f"no follow-up call has id {followup_id}")
    if call.done_at is not None:
        raise FollowUpAlreadyDone(f"follow-up call {followup_id} was recorded as made on {call.done_at:%Y-%m-%d}")
    referral = uow.queue.get(call.referral_id)
    assert referral is not None  # a foreign key
    call.done_at = now
    call.outcome = text
    uow.followups.save(call)
    uow.commit()
    log.info("followup_done", reference=referral.reference, kind=call.kind)
    return due_call(call, referral, call.due)


def resolve_task(uow: UnitOfWork, task_id: int, *, by: str, note: str, now: dt.datetime) -> TaskView:
    """Mark team task ``task_id`` done by ``by``, with the ``note`` saying what was done; returns the task.

    Raises:
        UnknownTask: no task has that id.
        TaskAlreadyDone: the task was resolved before.
        ValueError: ``note`` is blank.
    """
    text = _filled(note, "note")
    task = uow.tasks.get(task_id)
    if task is None:
        raise UnknownTask(f"no task has id {task_id}")
    if task.resolved_at is not None:
        raise TaskAlreadyDone(f"task {task_id} was done on {task.resolved_at:%Y-%m-%d} by {task.resolved_by}")
    uow.tasks.resolve(task, by=by, note=text, at=now)
    uow.commit()
    log.info("task_done", task_id=task_id, kind=task.kind)
    return next(t for t in tasks(uow, include_resolved=True) if t.id == task_id)


def accept_referral(uow: UnitOfWork, reference: str, priority: str, *, by: str, now: dt.datetime) -> None:
    """Accept referral ``reference`` from review into the queue with ``priority``, as ``by`` decided.

    Raises:
        UnknownReferral: nothing is queued under ``reference``.
        NotForReview: it is not waiting for review (accepted already, declined, or a MAR registration).
        ValueError: ``priority`` is not one of ``PRIORITIES``.
    """
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}: use one of {', '.join(PRIORITIES)}")
    referral = _referral(uow, reference)
    if referral.kind != "referral" or referral.status != "review":
        raise NotForReview(f"{reference} is not waiting for review")
    referral.status = "new"
    referral.priority = priority
    uow.queue.save(referral)
    uow.audit.record("accepted", at=now, message_id=referral.message_id, by=by, priority=priority)
    uow.commit()
    log.info("referral_accepted", reference=reference)


def decline_referral(uow: UnitOfWork, reference: str, reason: str, *, by: str, now: dt.datetime) -> None:
    """Decline referral ``reference``, as ``by`` decided, for ``reason``: it leaves the queue and the digest,
    and the reason joins its history.

    Raises:
        UnknownReferral: nothing is queued under ``reference``.
        NotAReferral: it is a MAR chart registration.
        ReferralClosed: it was declined before, or its home assessment is recorded.
        ValueError: ``reason`` is blank or too long.
    """
    text = _text(reason, "reason")
    referral = _referral(uow, reference)
    assert referral.id is not None
    if referral.kind != "referral":
        raise NotAReferral(f"{reference} is a MAR chart registration: it cannot be declined")
    if referral.status not in STATUSES or uow.followups.assessment(referral.id) is not None:
        raise ReferralClosed(f"{reference} is no longer open: it was declined or assessed")
    referral.status = "declined"
    uow.queue.save(referral)
    uow.notes.add(ReferralNote(referral_id=referral.id, kind="declined_reason", text=text, by=by, at=now))
    uow.audit.record("declined", at=now, message_id=referral.message_id, by=by)
    uow.commit()
    log.info("referral_declined", reference=reference)


def add_note(uow: UnitOfWork, reference: str, note: str, *, by: str, now: dt.datetime) -> None:
    """Add ``by``'s ``note`` to the history of referral (or MAR registration) ``reference``.

    Raises:
        UnknownReferral: nothing is queued under ``reference``.
        ValueError: ``note`` is blank or too long.
    """
    text = _text(note, "note")
    referral = _referral(uow, reference)
    assert referral.id is not None
    uow.notes.add(ReferralNote(referral_id=referral.id, kind="note", text=text, by=by, at=now))
    uow.commit()
    log.info("note_added", reference=reference)


def send_hand_reply(
    uow: UnitOfWork,
    task_id: int,
    *,
    to: str,
    subject: str,
    body: str,
    by: str,
    service: ServiceSettings,
    now: dt.datetime,
) -> HandReply:
    """Send ``by``'s reply by hand for team task ``task_id`` through the outbox, and resolve the task.

    The outbox key is the task's, so the same reply submitted twice (a double click, a resubmitted page) is
    sent once. ``to`` is held to the automatic replies' rule (one strict address, not the service's own);
    the reply carries the service's Message-ID, so the referrer's answer joins the submission.

    Raises:
        UnknownTask: no task has that id, or it is not answered by a reply.
        TaskAlreadyDone: the task was resolved before, and not by this reply.
        InvalidHandReply: the address, subject or text cannot be sent as written (``field`` says which).
    """
    task = uow.tasks.get(task_id)
    if task is None or task.kind not in HAND_REPLY_TASKS:
        raise UnknownTask(f"no reply-by-hand task has id {task_id}")
    key = f"hand-reply-{task_id}"
    address = typed_address(to, service.addresses)
    if uow.outbox.has(key):
        return HandReply(task_id, task.reference or "", address.addr_spec if address else to.strip(), sent=False)
    if task.resolved_at is not None:
        raise TaskAlreadyDone(f"task {task_id} was done on {task.resolved_at:%Y-%m-%d} by {task.resolved_by}")
    if address is None:
        raise InvalidHandReply("to", "Enter the referrer's email address, like name@nhs.net")
    subject = subject.strip()
    if not subject or len(subject) > MAX_SUBJECT or not subject.isprintable():
        raise InvalidHandReply("subject", f"Enter a subject of one line, up to {MAX_SUBJECT} characters")
    if not body.strip() or len(body) > MAX_TEXT:
        raise InvalidHandReply("body", f"Enter the text of the reply, up to {MAX_TEXT} characters")
    message = uow.ledger.get(task.message_id) if task.message_id is not None else None
    reference = task.reference or (message.reference if message else "")
    try:
        email = build_hand_reply(address, subject=subject, body=body, reference=reference, service=service, now=now)
    except UnsafeMessage as exc:
        raise InvalidHandReply("subject", "Enter a subject of one line") from exc
    submission = (message.submission_of or message.id) if message is not None else None
    uow.outbox.enqueue(
        key,
        "hand_reply",
        email,
        now=now,
        message_id=task.message_id,
        submission_id=submission,
        recipient=address.header_form,
    )
    uow.tasks.resolve(task, by=by, note=f"Replied by hand to {address.addr_spec}", at=now)
    uow.audit.record("replied_by_hand", at=now, message_id=task.message_id, by=by, task_id=task_id)
    uow.commit()
    log.info("hand_reply_queued", task_id=task_id)
    return HandReply(task_id, reference, address.addr_spec, sent=True)


def record_view(uow: UnitOfWork, reference: str, viewer: str, *, now: dt.datetime) -> None:
    """Record that ``viewer`` (a staff email address) saw referral ``reference``, in the referral's history.

    Raises:
        UnknownReferral: nothing is queued under ``reference``.
    """
    referral = _referral(uow, reference)
    uow.audit.record("viewed", at=now, message_id=referral.message_id, by=viewer)
    uow.commit()


def record_listing(uow: UnitOfWork, references: Sequence[str], viewer: str, *, page: str, now: dt.datetime) -> None:
    """Record that ``viewer`` saw the patients of ``references`` (referrals, or submissions still waiting on
    their referrer) listed on ``page``, each in its own history: a list shows names too. A reference that is
    gone meanwhile is passed over; nothing else is refused."""
    for reference in dict.fromkeys(references):
        referral = uow.queue.by_reference(reference)
        message = uow.ledger.by_reference(reference) if referral is None else None
        message_id = referral.message_id if referral is not None else message.id if message is not None else None
        if message_id is not None:
            uow.audit.record("listed", at=now, message_id=message_id, by=viewer, page=page)
    uow.commit()


def add_account(
    uow: UnitOfWork,
    email: str,
    role: str,
    password: str | None,
    *,
    by: str,
    now: dt.datetime,
    one_time: bool = False,
    replace: bool = True,
) -> bool:
    """Make the account for ``email``, or change the role and password of the one there; True when it is new.

    ``password`` None leaves an account to OpenID Connect (an existing one keeps its password); ``one_time``
    makes the password work for one sign-in, after which its owner chooses their own. ``by`` (who made the
    change) goes into the audit trail with the address and role, never the password.

    Raises:
        AccountError: ``email`` is not an address, ``role`` is unknown, ``password`` is too short, the change
            would leave no admin (LastAdmin), or, with ``replace`` False, the address has an account already
            (AccountExists).
    """
    address = normalise_email(email)
    check_role(role)
    hashed = hash_password(password) if password is not None else None
    user = uow.users.by_email(address)
    if user is not None and not replace:
        raise AccountExists(f"{address} has an account already")
    created = user is None
    if user is None:
        user = UserAccount(email=address, role=role, password_hash=hashed, created_at=now)
    elif user.role != role:
        _keep_an_admin(uow, user, by=by)
    user.role = role
    if hashed is not None:
        user.password_hash = hashed
        user.password_must_change = one_time
        user.session_epoch += 1  # a replaced password signs out whoever was signed in with the old one
    uow.users.save(user)
    event = "account_added" if created else "account_changed"
    uow.audit.record(event, at=now, by=by, email=address, role=role, password=hashed is not None)
    uow.commit()
    log.info("account_saved", role=role, state="added" if created else "changed")
    return created


def change_role(uow: UnitOfWork, email: str, role: str, *, by: str, now: dt.datetime) -> Account:
    """Give the account of ``email`` the role ``role``; ``by`` goes into the audit trail.

    Raises:
        AccountError: an unknown role, no such account (UnknownAccount), or the change would leave no admin
            who can sign in (LastAdmin).
    """
    check_role(role)
    user = _account_row(uow, email)
    if user.role == role:
        return account_of(user)
    if user.role == "admin":
        _keep_an_admin(uow, user, by=by)
    previous, user.role = user.role, role
    uow.users.save(user)
    uow.audit.record("account_role_changed", at=now, by=by, email=user.email, role=role, previous=previous)
    uow.commit()
    log.info("account_role_changed", role=role)
    return account_of(user)


def disable_account(uow: UnitOfWork, email: str, *, by: str, now: dt.datetime) -> Account:
    """Stop the account of ``email`` from signing in; its sessions end at their next request.

    Raises:
        AccountError: no such account (UnknownAccount), or it is the last admin who can sign in (LastAdmin).
    """
    user = _account_row(uow, email)
    if user.disabled_at is not None:
        return account_of(user)
    if user.role == "admin":
        _keep_an_admin(uow, user, by=by)
    user.disabled_at = now
    uow.users.save(user)
    uow.audit.record("account_disabled", at=now, by=by, email=user.email)
    uow.commit()
    log.info("account_disabled")
    return account_of(user)


def enable_account(uow: UnitOfWork, email: str, *, by: str, now: dt.datetime) -> Account:
    """Let the disabled account of ``email`` sign in again.

    Raises:
        UnknownAccount: no such account.
    """
    user = _account_row(uow, email)
    if user.disabled_at is None:
        return account_of(user)
    user.disabled_at = None
    uow.users.save(user)
    uow.audit.record("account_enabled", at=now, by=by, email=user.email)
    uow.commit()
    log.info("account_enabled")
    return account_of(user)


@dataclass(frozen=True)
class NewPassword:
    """What ``reset_password`` did: the account, and the one-time password to hand its owner (kept nowhere)."""

    account: Account
    one_time_password: str


def reset_password(uow: UnitOfWork, email: str, *, by: str, now: dt.datetime) -> NewPassword:
    """Give the account of ``email``, whose owner forgot their password, a new one-time password.

    Only its hash is kept; it works for one sign-in, after which its owner chooses their own. Every session
    signed in as the account ends at its next request (whoever had the old password is signed out). ``by``
    goes into the audit trail, never the password.

    Raises:
        AccountError: no such account (UnknownAccount), or it signs in with NHSmail and has no password here
            (NoPassword).
    """
    user = _account_row(uow, email)
    if user.password_hash is None:
        raise NoPassword(f"{user.email} signs in with NHSmail: there is no password here to reset")
    one_time = new_one_time_password()
    user.password_hash = hash_password(one_time)
    user.password_must_change = True
    user.session_epoch += 1
    uow.users.save(user)
    uow.audit.record("password_reset", at=now, by=by, email=user.email)
    uow.commit()
    log.info("password_reset")
    return NewPassword(account_of(user), one_time)


def choose_password(uow: UnitOfWork, email: str, password: str, *, now: dt.datetime) -> Account:
    """Replace the password of ``email`` with one its owner chose (after a one-time password, or their own).

    The account's other sessions end, as after a reset: whoever had the old password is signed out. The caller
    keeps its own session going with the returned account (``intake.web.auth.keep_session``).

    Raises:
        AccountError: no such account, or the password is too short.
    """
    hashed = hash_password(password)
    user = _account_row(uow, email)
    user.password_hash = hashed
    user.password_must_change = False
    user.session_epoch += 1
    uow.users.save(user)
    uow.audit.record("password_chosen", at=now, by=user.email, email=user.email)
    uow.commit()
    return account_of(user)


def _account_row(uow: UnitOfWork, email: str) -> UserAccount:
    user = uow.users.by_email(normalise_email(email))
    if user is None:
        raise UnknownAccount(f"{email.strip()} has no account")
    return user


def _keep_an_admin(uow: UnitOfWork, leaving: UserAccount, *, by: str) -> None:
    """Refuse a change that takes ``leaving`` away from the admins when no other admin could sign in after it."""
    others = [user for user in uow.users.enabled_admins() if user.id != leaving.id]
    if others or leaving.disabled_at is not None:
        return
    if leaving.email == by:
        raise LastAdmin("you are the only administrator: make someone else an administrator first")
    raise LastAdmin(f"{leaving.email} is the only administrator: make someone else an administrator first")


def sign_in(uow: UnitOfWork, email: str, password: str, *, now: dt.datetime) -> Account | None:
    """Sign in with a local account: the account when ``password`` is its password (and when it signed in is
    noted); None otherwise, taking as long whatever was wrong."""
    try:
        address = normalise_email(email)
    except AccountError:
        address = ""
    user = uow.users.by_email(address) if address else None
    if not password_matches(user, password) or user is None or user.disabled_at is not None:
        return None
    return _signed_in(uow, user, now)


def sign_in_verified(uow: UnitOfWork, email: str, *, now: dt.datetime) -> Account | None:
    """Sign in as ``email``, which an OpenID provider vouched for: its account (when it signed in is noted), or
    None when it has none."""
    try:
        address = normalise_email(email)
    except AccountError:
        return None
    user = uow.users.by_email(address)
    return _signed_in(uow, user, now) if user is not None and user.disabled_at is None else None


def _signed_in(uow: UnitOfWork, user: UserAccount, now: dt.datetime) -> Account:
    user.last_signed_in_at = now
    uow.users.save(user)
    uow.commit()
    return account_of(user)


def _referral(uow: UnitOfWork, reference: str) -> ReferralRecord:
    referral = uow.queue.by_reference(reference)
    if referral is None or referral.id is None:
        raise UnknownReferral(f"no referral has reference {reference}")
    return referral


def _filled(value: str, what: str) -> str:
    """``value`` without the white space around it; a ValueError when nothing is left."""
    text = value.strip()
    if not text:
        raise ValueError(f"the {what} must not be empty")
    return text


def _text(value: str, what: str) -> str:
    """A team member's text for a referral's history: filled in, and short enough to show."""
    text = _filled(value, what)
    if len(text) > MAX_TEXT:
        raise ValueError(f"the {what} is too long: keep it under {MAX_TEXT} characters")
    return text


def send_again(uow: UnitOfWork, outbox_id: int, *, by: str, now: dt.datetime) -> str:
    """Put email ``outbox_id``, which the outbox gave up on, back in the outbox with fresh tries; the daemon's
    next outbox round sends it. Returns the email's kind.

    The team's "send it by hand" task for it is resolved (an admin acted on it); if it fails again, the outbox
    gives the team a new one.

    Raises:
        UnknownEmail: no failed email has that id.
    """
    item = uow.outbox.get(outbox_id)
    if item is None or item.state != "failed":
        raise UnknownEmail(f"no failed email has id {outbox_id}")
    item.state = "pending"
    item.attempts = 0
    item.next_attempt_at = None
    uow.outbox.save(item)
    for task in uow.tasks.list():
        if task.key == f"send_failed-{outbox_id}" or task.key.startswith(f"send_failed-{outbox_id}-"):
            uow.tasks.resolve(task, by=by, note="sent again from the service page", at=now)
    uow.audit.record("sent_again", at=now, message_id=item.message_id, outbox_id=outbox_id, kind=item.kind, by=by)
    uow.commit()
    log.info("sent_again", outbox_id=outbox_id, kind=item.kind)
    return item.kind


PURGE_BATCH = 500
"""Things purged per commit: a first purge of a long-running service (tens of thousands of rows) must not hold
the database's write lock for long, or the daemon's polls would wait behind it."""


def purge(
    uow: UnitOfWork,
    periods: RetentionPeriods,
    *,
    today: dt.date,
    now: dt.datetime,
    tz: dt.tzinfo,
    dry_run: bool = False,
) -> RetentionPlan:
    """Purge what retention makes due on ``today`` (``rules.retention``); returns what was purged, or with
    ``dry_run`` what would be, changing nothing.

    Each thing purged gets an audit row (ids and the period, never what it held) in the same commit, and the
    run one more with the counts. Commits come every ``PURGE_BATCH`` things of a kind, so a purge cut short has
    purged and audited whole batches and the next run takes the rest. Something purged by another instance meanwhile
    is neither purged nor audited twice.
    """
    plan = due_for_purge(
        uow.retention.messages(tz),
        uow.retention.referrals(tz),
        uow.retention.emails(tz),
        today=today,
        periods=periods,
    )
    if dry_run or not plan:
        return plan
    retention, audit = uow.retention, uow.audit
    copies = _in_batches(
        uow,
        plan.copies,
        lambda ids: retention.purge_copies(ids, now),
        lambda i: audit.record("copy_purged", at=now, message_id=i, days=periods.copies_days),
    )
    fields = _in_batches(
        uow,
        plan.fields,
        lambda ids: retention.purge_fields(ids, now),
        lambda i: audit.record("form_fields_purged", at=now, message_id=i, days=periods.patient_days),
    )
    referrals = _in_batches(uow, plan.referrals, lambda ids: _purge_referrals(uow, ids, periods, now), lambda _: None)
    emails = _in_batches(
        uow,
        plan.emails,
        lambda ids: retention.purge_emails(ids, now),
        lambda i: audit.record("sent_email_purged", at=now, outbox_id=i, days=periods.copies_days),
    )
    purged = RetentionPlan(tuple(copies), tuple(fields), tuple(referrals), tuple(emails))
    counts = purged.counts()
    if purged:
        audit.record("retention_purge", at=now, **counts)
        uow.commit()
    log.info(
        "retention_purged",
        message_copies=counts["message_copies"],
        form_fields=counts["form_fields"],
        referral_details=counts["referral_details"],
        sent_emails=counts["sent_emails"],
    )
    return purged


def _in_batches(
    uow: UnitOfWork,
    ids: Sequence[int],
    purge_batch: Callable[[Sequence[int]], list[int]],
    audit: Callable[[int], None],
) -> list[int]:
    """``purge_batch`` on ``ids``, ``PURGE_BATCH`` at a time, each batch committed with an audit row for each
    thing it purged; returns what was purged."""
    done: list[int] = []
    for start in range(0, len(ids), PURGE_BATCH):
        purged = purge_batch(ids[start : start + PURGE_BATCH])
        for item in purged:
            audit(item)
        uow.commit()
        done += purged
    return done


def _purge_referrals(uow: UnitOfWork, ids: Sequence[int], periods: RetentionPeriods, now: dt.datetime) -> list[int]:
    """Purge the patient's details of these referrals, each audited under its reference; returns those purged."""
    purged = []
    for referral_id in ids:
        reference = uow.retention.purge_referral(referral_id, now)
        if reference is None:
            continue  # another purge took it first
        row = uow.queue.get(referral_id)
        uow.audit.record(
            "patient_details_purged",
            at=now,
            message_id=row.message_id if row is not None else None,
            reference=reference,
            days=periods.patient_days,
        )
        purged.append(referral_id)
    return purged


def _received_on(uow: UnitOfWork, referral: ReferralRecord) -> dt.date:
    message = uow.ledger.get(referral.message_id)
    at = message.received_at if message is not None else referral.created_at
    return local_day(at)
