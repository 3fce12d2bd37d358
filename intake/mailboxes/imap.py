"""An IMAP mailbox (imapclient): Exchange Online / NHSmail with XOAUTH2, or any server with a password.

What it does for the pipeline:

* ``fetch_new`` lists the folder with ``NOOP`` then ``UID SEARCH`` (no CHARSET: Exchange rejects it; without
  the NOOP a connection kept selected between polls does not see new mail), reads sizes (``RFC822.SIZE``)
  and arrival times first, then bodies in batches with ``BODY.PEEK[]`` so nothing is marked read. A message
  over ``max_message_bytes`` is not fetched at all: it is handed over unread, for the pipeline to quarantine.
  It searches again after the last batch and yields what arrived meanwhile, until nothing new is left.
* ``file`` MOVEs a message to the folder for its outcome (COPY, ``\\Deleted`` and UID EXPUNGE where the
  server has no MOVE), creating the folder when missing. A message already gone is not an error; one filed
  ``again`` (an earlier move may have been cut off) is only removed when the folder already holds its copy.
* ``watch`` IDLEs on a second connection and calls ``wake`` when the folder changes, renewing IDLE every
  ``idle_renew_seconds``; on a server without IDLE it returns at once and the daemon's polling does the work.

Every operation has a socket timeout. Any socket or protocol error drops the connection and raises
MailboxUnavailable; the next call reconnects, after an exponential back-off when connecting itself failed.
The ledger, not this class, remembers what was processed: ``MailRef`` carries folder, UIDVALIDITY and UID.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from config.settings import MAX_MESSAGE_BYTES, ImapSettings, Settings
from intake.errors import MailboxAuthError, MailboxUnavailable
from intake.mailbox import DeltaStore, IncomingMail, MailRef
from microsoft.entra import TokenError, TokenProvider, TokenRefused
from notifier.private_files import tighten

log = structlog.get_logger("intake.mailboxes.imap")

BATCH_BYTES = 32 * 1024 * 1024
"""At most this many bytes of bodies in one FETCH (fewer messages than ``batch_size`` when they are large)."""

IDLE_CHECK_SECONDS = 5.0
"""How long one wait inside IDLE lasts before the watcher looks at its stop flag again."""


class _FolderRebuilt(IMAPClientError):  # type: ignore[misc]  # imapclient has no type hints
    """The intake folder's UIDVALIDITY changed under the poller's connection."""


_FAILURES = (OSError, IMAPClientError, IMAPClientAbortError)  # socket.timeout and ssl.SSLError are OSErrors
_LOGIN_FAILURES = (*_FAILURES, TokenError)  # a login also fails when Entra ID gives no token

ClientFactory = Callable[..., IMAPClient]


class ImapMailbox:
    """Reads and files the messages in one IMAP folder.

    ``token`` gives an OAuth 2.0 access token for XOAUTH2 (``microsoft.entra.TokenProvider.token``); it is
    required when ``settings.auth == "xoauth2"``. ``max_message_bytes`` is the largest message read whole.
    """

    def __init__(
        self,
        settings: ImapSettings,
        *,
        name: str = "imap",
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        token: Callable[[], str] | None = None,
        client_factory: ClientFactory = IMAPClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.auth == "xoauth2" and token is None:
            raise ValueError("XOAUTH2 needs a token provider")
        self.settings = settings
        self.name = name
        self.folder = settings.folder
        self.max_message_bytes = max_message_bytes
        self._token = token
        self._factory = client_factory
        self._clock = clock
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._folders: set[str] = set()
        self._failures = 0
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        state: DeltaStore,  # noqa: ARG003 - every mailbox is built alike; IMAP's place is its UIDs
        clock: Callable[[], dt.datetime],  # noqa: ARG003 - and its back-off runs on the monotonic clock
    ) -> ImapMailbox:
        """The folder ``[mailbox.imap]`` names, with XOAUTH2 tokens from Entra ID when ``auth = "xoauth2"``."""
        imap = settings.mailbox.imap
        token = None
        if imap.auth == "xoauth2":
            oauth = imap.oauth
            refresh = oauth.token_cache_path if oauth.flow == "refresh_token" else None
            if refresh is not None:
                # A refresh token put there by hand with the umask's mode is a secret others could read.
                tighten(refresh, kind="state")
            token = TokenProvider(oauth, scopes=oauth.scopes, refresh_token_path=refresh).token
        return cls(imap, name=settings.mailbox.name, max_message_bytes=settings.limits.max_message_bytes, token=token)

    # -- the Mailbox protocol ---------------------------------------------------------------------------------

    def fetch_new(self) -> Iterator[IncomingMail]:
        """Every message in the folder, oldest UID first, read with BODY.PEEK[] (nothing is marked read).

        Raises:
            MailboxUnavailable: the server cannot be reached or failed mid-way (the next call reconnects).
            MailboxAuthError: the server refused the login.
        """
        yielded: set[int] = set()
        while True:
            listing = self._list(exclude=yielded)
            if not listing:
                return
            for batch in _batches(listing, self.settings.batch_size, BATCH_BYTES, self.max_message_bytes):
                for incoming in self._bodies(batch):
                    yielded.add(int(incoming.ref.uid))
                    yield incoming
                yielded.update(uid for uid, _size, _date in batch)  # gone since the listing: not ours any more

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:
        """Move the message ``ref`` to ``folder`` (created when missing); one already gone is left alone.

        A message listed under an older UIDVALIDITY cannot be named any more: it is left where it is, and
        when it is listed again under its new UID the ledger's second net (the SHA-256 of its bytes) files it.

        ``again``: an earlier filing of this message may have been cut off. A MOVE is a copy and an expunge
        on the server (and COPY, ``\\Deleted`` and EXPUNGE where there is no MOVE): a server restarted, or a
        service killed, between the two leaves the message in both folders. So the folder is searched for a
        copy first (same size, arrival time and bytes), and when it holds one only the original is removed.

        Raises:
            MailboxUnavailable: the server failed; the ledger still says "decided", so the next poll files it.
        """
        with self._session() as client:
            if ref.uidvalidity != self._uidvalidity or ref.folder != self.folder:
                log.warning("imap_file_skipped_uidvalidity", mailbox=self.name, folder=folder)
                return
            self._ensure_folder(client, folder)
            uid = [int(ref.uid)]
            if again:
                copied = self._copied(client, uid[0], folder)
                if copied is None:
                    return  # gone from the folder: the earlier move landed, or a person moved it
                if copied:
                    log.info("imap_copy_found", mailbox=self.name, folder=folder)
                    self._remove(client, uid)
                    return
            try:
                if client.has_capability("MOVE"):
                    client.move(uid, folder)
                    return
                client.copy(uid, folder)
            except IMAPClientError as exc:
                if "EXPUNGEISSUED" in str(exc):
                    return  # another session (a person in Outlook, a replay) moved or deleted it meanwhile
                raise
            self._remove(client, uid)

    def _copied(self, client: IMAPClient, uid: int, folder: str) -> bool | None:
        """Whether ``folder`` holds a copy of message ``uid`` (None: the message is no longer here).

        A copy keeps the original's bytes and arrival time (RFC 3501 6.4.7, and RFC 6851 for MOVE); a delivery
        of the same bytes at another time is a message of its own, and stays. The folder is looked at
        read-only, and the intake folder selected again, as it was, before returning.

        A message over ``max_message_bytes`` is never read, here either: it is taken for not copied, and moved
        (a second copy of a message the team must look at by hand is better than a guess that deletes one).
        """
        listed = client.fetch([uid], ["RFC822.SIZE", "INTERNALDATE"]).get(uid)
        if listed is None:
            return None
        size, arrived = int(listed.get(b"RFC822.SIZE", 0)), listed.get(b"INTERNALDATE")
        if size > self.max_message_bytes:
            return False
        original = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        if original is None or b"BODY[]" not in original:
            return None
        raw = original[b"BODY[]"]
        try:
            client.select_folder(folder, readonly=True)
            same_size = client.search(["LARGER", max(size - 1, 0), "SMALLER", size + 1])
            dates = client.fetch(same_size, ["INTERNALDATE"]) if same_size else {}
            candidates = [found for found, data in dates.items() if data.get(b"INTERNALDATE") == arrived]
            bodies = client.fetch(candidates, ["BODY.PEEK[]"]) if candidates else {}
            return any(data.get(b"BODY[]") == raw for data in bodies.values())
        finally:
            selected = client.select_folder(self.folder, readonly=False)
            if int(selected[b"UIDVALIDITY"]) != self._uidvalidity:
                # Rebuilt meanwhile: its UIDs name other messages now. The connection is dropped, and the next
                # one lists the folder afresh.
                raise _FolderRebuilt(self.folder)

    @staticmethod
    def _remove(client: IMAPClient, uid: list[int]) -> None:
        """Delete the original of a message copied to its folder."""
        client.delete_messages(uid)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uid)
        else:
            client.expunge()  # without UIDPLUS only a folder-wide EXPUNGE exists; \\Deleted mail is ours

    # -- IDLE --------------------------------------------------------------------------------------------------

    def watch(self, wake: Callable[[], None], stop: threading.Event) -> None:
        """Until ``stop`` is set, IDLE on a connection of its own and call ``wake()`` when mail arrives.

        IDLE is only a wake-up signal: ``wake`` makes the poller run, and the poller's UID SEARCH is what
        counts. The IDLE command is renewed every ``idle_renew_seconds``; after a socket error the watcher
        reconnects with back-off and wakes the poller once, since mail may have come while it was away.
        Returns at once when the server has no IDLE (or ``settings.idle`` is off): polling alone then.
        """
        if not self.settings.idle:
            return
        failures = 0
        while not stop.is_set():
            client: IMAPClient | None = None
            try:
                client = self._connect(readonly=True)
                if not client.has_capability("IDLE"):
                    log.info("imap_idle_unsupported", mailbox=self.name)
                    return
                if failures:
                    wake()
                failures = 0
                self._idle(client, wake, stop)
            except _LOGIN_FAILURES as exc:
                failures += 1
                log.warning("imap_idle_failed", mailbox=self.name, error_type=type(exc).__name__, failures=failures)
                stop.wait(_backoff(failures, self.settings.max_backoff_seconds))
            finally:
                if client is not None:
                    _close(client)

    def _idle(self, client: IMAPClient, wake: Callable[[], None], stop: threading.Event) -> None:
        renew = self.settings.idle_renew_seconds
        while not stop.is_set():
            client.idle()
            renew_at = time.monotonic() + renew
            while not stop.is_set() and (remaining := renew_at - time.monotonic()) > 0:
                wait = min(IDLE_CHECK_SECONDS, remaining)
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    wake()
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ConnectionResetError("server said BYE")
                if not responses and time.monotonic() - started < wait / 2:
                    # imapclient's idle_check returns nothing, early, when the server closed the socket.
                    break
            client.idle_done()
            client.noop()  # raises on a dead connection, which then reconnects

    # -- connection --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Log out and drop the connection (the next call connects again)."""
        with self._lock:
            if self._client is not None:
                _close(self._client)
                self._client = None

    @contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        """The poller's connection, connected when needed; any failure drops it and becomes MailboxUnavailable."""
        with self._lock:
            if self._client is None:
                now = self._clock()
                if now < self._retry_at:
                    raise MailboxUnavailable(f"IMAP mailbox {self.name}: backing off for {self._retry_at - now:.0f} s")
                try:
                    self._client = self._connect(readonly=False)
                except LoginError as exc:
                    self._failed()
                    raise MailboxAuthError(f"IMAP mailbox {self.name}: login refused") from exc
                except TokenRefused as exc:
                    self._failed()
                    raise MailboxAuthError(f"IMAP mailbox {self.name}: {exc}") from exc
                except _LOGIN_FAILURES as exc:
                    self._failed()
                    raise MailboxUnavailable(
                        f"IMAP mailbox {self.name}: cannot connect ({type(exc).__name__})"
                    ) from exc
                self._failures = 0
            try:
                yield self._client
            except _FAILURES as exc:
                _close(self._client)
                self._client = None
                raise MailboxUnavailable(f"IMAP mailbox {self.name}: {type(exc).__name__}") from exc

    def _failed(self) -> None:
        self._failures += 1
        self._retry_at = self._clock() + _backoff(self._failures, self.settings.max_backoff_seconds)

    def _connect(self, *, readonly: bool) -> IMAPClient:
        settings = self.settings
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        client = self._factory(
            settings.host,
            port=settings.port,
            ssl=settings.security == "tls",
            ssl_context=context,
            timeout=SocketTimeout(connect=settings.connect_timeout_seconds, read=settings.timeout_seconds),
        )
        try:
            if settings.security == "starttls":
                client.starttls(context)
            if settings.auth == "password":
                client.login(settings.username, settings.password.get_secret_value())
            else:
                assert self._token is not None
                client.oauth2_login(settings.username, self._token())
            client.normalise_times = False  # INTERNALDATE as an aware datetime, not local naive time
            selected = client.select_folder(self.folder, readonly=readonly)
        except BaseException:
            _close(client)
            raise
        if not readonly:
            self._uidvalidity = int(selected[b"UIDVALIDITY"])
        return client

    # -- reading -----------------------------------------------------------------------------------------------

    def _list(self, exclude: set[int]) -> list[tuple[int, int, dt.datetime]]:
        """(uid, size, arrival) of each message not yet yielded, oldest first; one reconnect on a stale link."""
        for attempt in (1, 2):
            try:
                with self._session() as client:
                    # A connection kept selected between polls sees only the messages the server has told it
                    # of: Dovecot answers SEARCH from that view and reports new mail (EXISTS) after it, so a
                    # poll woken by IDLE would list nothing. NOOP first asks for the folder's news (RFC 3501
                    # 6.1.2), and it is also the cheap check that a kept connection is still alive.
                    client.noop()
                    uids = [u for u in client.search(["NOT", "DELETED"]) if u not in exclude]
                    if not uids:
                        return []
                    meta = client.fetch(sorted(uids), ["RFC822.SIZE", "INTERNALDATE"])
                    break
            except MailboxUnavailable:
                # A connection kept between polls may have been closed by the server: one fresh try.
                if attempt == 2 or self._client is not None or self._clock() < self._retry_at:
                    raise
        listing = []
        for uid in sorted(meta):
            data = meta[uid]
            size = int(data.get(b"RFC822.SIZE", 0))
            received = data.get(b"INTERNALDATE")
            listing.append((uid, size, _aware(received)))
        return listing

    def _bodies(self, batch: list[tuple[int, int, dt.datetime]]) -> list[IncomingMail]:
        """The batch's messages in UID order: read whole, or over the limit and left unread."""
        whole = [uid for uid, size, _date in batch if size <= self.max_message_bytes]
        bodies: dict[int, bytes] = {}
        if whole:
            with self._session() as client:
                for uid, data in client.fetch(whole, ["BODY.PEEK[]"]).items():
                    if b"BODY[]" in data:
                        bodies[uid] = data[b"BODY[]"]
        found = []
        for uid, size, received in batch:
            ref = MailRef(self.name, self.folder, self._uidvalidity, str(uid))
            if size > self.max_message_bytes:
                found.append(IncomingMail.over_limit(ref, received, size))
            elif uid in bodies:  # otherwise gone since the listing
                found.append(IncomingMail(ref=ref, raw=bodies[uid], received_at=received))
        return found

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if folder in self._folders:
            return
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
            except IMAPClientError:
                if not client.folder_exists(folder):  # another client may have created it meanwhile
                    raise
        self._folders.add(folder)


def _batches(
    listing: list[tuple[int, int, dt.datetime]], count: int, max_bytes: int, max_message: int
) -> Iterator[list[tuple[int, int, dt.datetime]]]:
    """Split the listing into FETCH batches of at most ``count`` messages and about ``max_bytes`` bytes."""
    batch: list[tuple[int, int, dt.datetime]] = []
    total = 0
    for item in listing:
        size = item[1] if item[1] <= max_message else 0  # over the limit: not fetched
        if batch and (len(batch) >= count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch


def _aware(value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.now(dt.UTC)  # a server that gives no INTERNALDATE: the time we saw the message
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _backoff(failures: int, cap: float) -> float:
    """1, 2, 4 … seconds up to ``cap``, with jitter so that many clients do not retry in step."""
    return float(min(cap, 2 ** min(failures - 1, 16)) * random.uniform(0.8, 1.2))  # noqa: S311 - not crypto


def _close(client: IMAPClient) -> None:
    # Logging out is a courtesy; on a dead socket it fails and the socket is closed anyway.
    with suppress(*_FAILURES, socket.timeout):
        client.logout()
    with suppress(*_FAILURES):
        client.shutdown()
