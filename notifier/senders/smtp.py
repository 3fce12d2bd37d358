"""A Sender over SMTP (smtplib): STARTTLS on 587 or implicit TLS on 465, with a password or OAuth 2.0 XOAUTH2.

Exchange Online switches SMTP AUTH with passwords off by default at the end of December 2026: use
``auth="xoauth2"`` with a token provider (``from_settings`` gives it Entra ID's client-credentials token for
``https://outlook.office365.com/.default``) or the Graph sender.

Failures are translated: a 5xx reply is ``SendRejected`` (permanent); a 4xx reply, a dropped connection, a
socket error or a timeout is ``SendDeferred`` (retry). SMTP has no idempotency: the key is not sent; a retry
after a crash between "accepted" and "recorded as sent" can deliver a second copy with the same Message-ID,
which mail clients show once.

The envelope goes to the recipients the caller names and to nobody else: smtplib, left to itself, would
collect them from To, Cc, Bcc and Resent-* headers, where an injected ``Bcc:`` would add an attacker. A
recipient whose local part is not ASCII is sent with SMTPUTF8 (RFC 6531) where the server offers it; where it
does not, the message is refused (``UnsafeMessage``, for the team) rather than encoded invalidly.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Literal

from config.settings import Settings
from microsoft.entra import TokenError, TokenProvider
from notifier.errors import SendDeferred, SendError, SendRejected, UnsafeMessage
from notifier.headers import check_message

Security = Literal["starttls", "tls", "none"]
Auth = Literal["password", "xoauth2", "none"]
TokenSource = Callable[[], str]
"""Returns a current OAuth 2.0 access token; called once per connection (the provider caches and renews it)."""


class SmtpSender:
    """Sends each message in its own SMTP session to ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "starttls",
        auth: Auth = "none",
        username: str | None = None,
        password: str | None = None,
        token_provider: TokenSource | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        """Raises ValueError when ``auth`` lacks what it needs (a username, a password or a token provider)."""
        if auth != "none" and not username:
            raise ValueError("SMTP authentication needs a username")
        if auth == "password" and password is None:
            raise ValueError("auth='password' needs a password")
        if auth == "xoauth2" and token_provider is None:
            raise ValueError("auth='xoauth2' needs a token provider")
        self.host = host
        self.port = port
        self.security = security
        self.auth = auth
        self.username = username
        self._password = password
        self._token_provider = token_provider
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSender:
        """The server ``[outgoing.smtp]`` names, logging in as its ``username`` (default: the service's address)."""
        smtp = settings.outgoing.smtp
        token = None
        if smtp.auth == "xoauth2":
            token = TokenProvider(smtp.oauth, scopes=[smtp.oauth.scope]).token
        return cls(
            smtp.host,
            smtp.port,
            security=smtp.security,
            auth=smtp.auth,
            username=smtp.username or settings.service.address,
            password=smtp.password.get_secret_value() if smtp.auth == "password" else None,
            token_provider=token,
            timeout=smtp.timeout_seconds,
            ssl_context=ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None),
        )

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:  # noqa: ARG002 - SMTP has no idempotency key
        """Hand ``message`` to the server, envelope from its From and to ``recipients`` only.

        Raises:
            UnsafeMessage: the message fails ``check_message`` for ``recipients``, or a recipient needs SMTPUTF8
                and the server does not offer it. Nothing is sent.
            SendRejected: a 5xx reply, authentication refused, TLS certificate not trusted, STARTTLS missing.
            SendDeferred: a 4xx reply, the connection failed or dropped, or timed out.
        """
        check_message(message, recipients)
        international = any(not r.partition("@")[0].isascii() for r in recipients)
        try:
            with self._connect() as smtp:
                self._login(smtp)
                smtp.ehlo_or_helo_if_needed()
                if international and not smtp.has_extn("smtputf8"):
                    raise UnsafeMessage("smtputf8_not_offered")
                refused = smtp.send_message(message, to_addrs=list(recipients))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise _by_code("recipient_refused", min(codes, default=550)) from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(type(exc).__name__, exc.smtp_code) from None
        except smtplib.SMTPNotSupportedError:
            raise SendRejected("not_supported") from None
        except ssl.SSLCertVerificationError:
            raise SendRejected("tls_certificate_not_trusted") from None
        except smtplib.SMTPServerDisconnected:
            raise SendDeferred("disconnected") from None
        except TimeoutError:
            raise SendDeferred("timeout") from None
        except SendError:
            raise
        except TokenError as exc:
            raise SendDeferred(f"token_{exc.code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendDeferred(type(exc).__name__) from None
        if refused:
            # Some recipients took it and some did not: sending again would duplicate it for the ones that did.
            codes = [code for code, _text in refused.values()]
            raise SendRejected("some_recipients_refused", code=min(codes))

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self.ssl_context,
            )
        smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.ehlo()
                # Refuses to go on in the clear: smtplib raises SMTPNotSupportedError when STARTTLS is not offered.
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        if self.auth == "none":
            return
        assert self.username is not None
        if self.auth == "password":
            assert self._password is not None
            smtp.login(self.username, self._password)
            return
        assert self._token_provider is not None
        token = self._token_provider()
        smtp.ehlo_or_helo_if_needed()
        smtp.auth("XOAUTH2", lambda challenge=None: _xoauth2(self.username or "", token, challenge))


def _xoauth2(username: str, token: str, challenge: bytes | None) -> str:
    # The first call gives the initial response; a second call carries the server's error challenge, which
    # RFC 7628 answers with an empty response so the server finishes with its 5xx.
    if challenge:
        return ""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


def _by_code(reason: str, code: int) -> SendError:
    if 500 <= code < 600:
        return SendRejected(reason, code=code)
    return SendDeferred(reason, code=code)
