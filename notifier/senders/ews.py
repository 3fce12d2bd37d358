"""A Sender over Exchange Web Services (exchangelib): the MIME message as the item's ``mime_content``.

For on-premises Exchange only, in the long run: EWS is blocked in Exchange Online from 1 October 2026 and
switched off on 1 April 2027. Use SMTP with XOAUTH2 or Graph there.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from notifier.errors import SendDeferred, SendRejected

AccountFactory = Callable[[], Any]
"""Returns a connected ``exchangelib.Account`` (built by the composition root, which holds the credentials)."""


class EwsSender:
    """Sends each message from the account ``account_factory`` gives, keeping a copy in Sent Items."""

    def __init__(self, account_factory: AccountFactory, *, save_copy: bool = True) -> None:
        self._account_factory = account_factory
        self._account: Any = None
        self.save_copy = save_copy

    def send(self, message: EmailMessage, *, key: str) -> None:  # noqa: ARG002 - EWS has no idempotency key
        """Send ``message`` through EWS.

        Raises:
            SendRejected: EWS refused it (recipients, size, access, credentials).
            SendDeferred: the server is busy or unreachable, or timed out.
        """
        from exchangelib import Mailbox, Message  # heavy: loaded only where EWS is used
        from exchangelib import errors as ews_errors

        transient = (
            ews_errors.ErrorServerBusy,
            ews_errors.ErrorTimeoutExpired,
            ews_errors.ErrorInternalServerTransientError,
            ews_errors.ErrorMailboxStoreUnavailable,
            ews_errors.RateLimitError,
        )
        recipients = [
            Mailbox(email_address=address)
            for _name, address in getaddresses([str(v) for v in message.get_all("To", [])])
            if address
        ]
        try:
            if self._account is None:
                self._account = self._account_factory()
            item = Message(account=self._account, mime_content=message.as_bytes(), to_recipients=recipients)
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
