"""A Sender over Exchange Web Services (exchangelib): the MIME message as the item's ``mime_content``.

For on-premises Exchange only, in the long run: EWS is blocked in Exchange Online from 1 October 2026 and
switched off on 1 April 2027. Use SMTP with XOAUTH2 or Graph there.

The item's recipients are the ones the caller gives, and the message must name exactly them in To with no
other recipient header (``check_message``): Exchange also reads the MIME headers. A recipient whose local
part is not ASCII is refused (``UnsafeMessage``, for the team): Exchange Server has no SMTPUTF8 to send it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Any

from config.settings import Settings
from notifier.errors import SendDeferred, SendRejected, UnsafeMessage
from notifier.headers import check_message

AccountFactory = Callable[[], Any]
"""Returns an ``exchangelib.Account`` (``microsoft.exchange.account_for``, which holds the credentials)."""


class EwsSender:
    """Sends each message from the account ``account_factory`` gives, keeping a copy in Sent Items."""

    def __init__(self, account_factory: AccountFactory, *, save_copy: bool = True) -> None:
        self._account_factory = account_factory
        self._account: Any = None
        self.save_copy = save_copy

    @classmethod
    def from_settings(cls, settings: Settings) -> EwsSender:
        """Sends from the mailbox ``[outgoing.ews]`` describes, made on first send."""
        from microsoft.exchange import account_for  # heavy: loaded only where EWS is used

        ews = settings.outgoing.ews
        return cls(lambda: account_for(ews))

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:  # noqa: ARG002 - EWS has no idempotency key
        """Send ``message`` through EWS to ``recipients``.

        Raises:
            UnsafeMessage: the message fails ``check_message`` for ``recipients``, or a recipient's local part
                is not ASCII. Nothing is sent.
            SendRejected: EWS refused it (recipients, size, access, credentials).
            SendDeferred: the server is busy or unreachable, or timed out.
        """
        check_message(message, recipients)
        if any(not r.partition("@")[0].isascii() for r in recipients):
            raise UnsafeMessage("smtputf8_not_offered")
        from exchangelib import Mailbox, Message  # heavy: loaded only where EWS is used
        from exchangelib import errors as ews_errors

        transient = (
            ews_errors.ErrorServerBusy,
            ews_errors.ErrorTimeoutExpired,
            ews_errors.ErrorInternalServerTransientError,
            ews_errors.ErrorMailboxStoreUnavailable,
            ews_errors.RateLimitError,
        )
        mailboxes = [Mailbox(email_address=address) for address in recipients]
        try:
            if self._account is None:
                self._account = self._account_factory()
            item = Message(account=self._account, mime_content=message.as_bytes(), to_recipients=mailboxes)
            item.send(save_copy=self.save_copy)
        except transient as exc:
            self._account = None
            raise SendDeferred(type(exc).__name__) from None
        except (ews_errors.ResponseMessageError, ews_errors.UnauthorizedError) as exc:
            # Checked before TransportError: exchangelib makes every per-item error a kind of TransportError.
            self._account = None
            raise SendRejected(type(exc).__name__) from None
        except ews_errors.TransportError as exc:
            self._account = None
            raise SendDeferred(type(exc).__name__) from None
        except ews_errors.EWSError as exc:
            raise SendRejected(type(exc).__name__) from None
        except OSError as exc:
            self._account = None
            raise SendDeferred(type(exc).__name__) from None
