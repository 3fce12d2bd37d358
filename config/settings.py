"""Service settings: a TOML file, overridden by ``NMSS_…`` environment variables, over embedded defaults.

With no file and no variables the service runs on its embedded defaults: SQLite at ``var/nmss.db``, a Maildir
at ``var/mailbox`` and outgoing mail written as ``.eml`` files to ``var/outbox``. Secrets are ``SecretStr`` so
they print as ``**********``. Nested settings take a double underscore: ``NMSS_MAILBOX__PATH=/srv/mail``.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic_settings
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.settings_errors import SettingsError as SettingsError
from config.settings_errors import toml_syntax_error, validation_problems

DEFAULT_CONFIG_FILE = Path("nmss-intake.toml")

MAX_MESSAGE_BYTES = 80 * 1024 * 1024
"""The default ``limits.max_message_bytes``: a 50 MB attachment is about 69 MB once base64-encoded."""

_config_file: ContextVar[Path | None] = ContextVar("nmss_config_file", default=None)


class Section(BaseModel):
    """A section of the settings. An unknown key is an error, never ignored: ``[mailbox] pth = …`` must not
    quietly run on the default ``path``."""

    model_config = ConfigDict(extra="forbid")


class EntraAppSettings(Section):
    """An app registration in Microsoft Entra ID, which gives the service its OAuth 2.0 access tokens.

    With a client secret, a confidential client (the client-credentials flow); without one, a public client
    (a person's delegated consent, kept as a refresh token: IMAP only).
    """

    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    authority_host: str = "https://login.microsoftonline.com"


class GraphSettings(EntraAppSettings):
    """Microsoft Graph (Exchange Online, NHSmail): an app registration with the client-credentials flow.

    The app needs the ``Mail.ReadWrite`` application permission, scoped to the intake mailbox by an
    application access policy (NHSmail approves this).
    """

    user: str = ""  # the mailbox's address or user id, e.g. agem.norfolkmedicineservices@nhs.net
    folder: str = "inbox"  # a well-known folder name or a folder id
    graph_url: str = "https://graph.microsoft.com/v1.0"
    timeout_seconds: float = Field(default=30.0, gt=0)


class EwsSettings(Section):
    """Exchange Web Services through exchangelib: for on-premises Exchange (Exchange Online retires EWS)."""

    server: str = ""  # host name, e.g. mail.example.nhs.uk; or set service_endpoint
    service_endpoint: str = ""  # e.g. https://mail.example.nhs.uk/EWS/Exchange.asmx
    address: str = ""  # the intake mailbox's primary SMTP address
    auth: Literal["ntlm", "basic", "oauth2"] = "ntlm"
    username: str = ""  # basic/NTLM: DOMAIN\\user or user@domain
    password: SecretStr = SecretStr("")
    tenant_id: str = ""  # oauth2 (client credentials, impersonation)
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    folder: str = "Inbox"  # a folder under the mailbox root, or the inbox
    timeout_seconds: int = Field(default=30, gt=0)


class ImapOAuthSettings(EntraAppSettings):
    """XOAUTH2 tokens from Microsoft Entra ID (msal) for IMAP on Exchange Online / NHSmail.

    ``flow = "client_credentials"``: an app registration with the ``IMAP.AccessAsApp`` permission and a
    client secret. ``flow = "refresh_token"``: a delegated consent whose refresh token is kept in
    ``token_cache_path`` and written again each time Microsoft rotates it.
    """

    flow: Literal["client_credentials", "refresh_token"] = "client_credentials"
    scopes: list[str] = Field(default_factory=lambda: ["https://outlook.office365.com/.default"])
    token_cache_path: Path = Path("var/imap-token.json")


class ImapSettings(Section):
    """An IMAP mailbox (Exchange Online / NHSmail with XOAUTH2, or any IMAP server with a password)."""

    host: str = ""
    port: int = Field(default=993, gt=0, lt=65536)
    security: Literal["tls", "starttls"] = "tls"
    ca_file: Path | None = None  # trust this CA bundle instead of the system's (a private or test server)
    username: str = ""  # the mailbox's address, e.g. agem.norfolkmedicineservices@nhs.net
    password: SecretStr = SecretStr("")
    auth: Literal["password", "xoauth2"] = "xoauth2"
    oauth: ImapOAuthSettings = Field(default_factory=ImapOAuthSettings)
    folder: str = "INBOX"
    connect_timeout_seconds: float = Field(default=15.0, gt=0)
    timeout_seconds: float = Field(default=60.0, gt=0)  # every read and write on the connection
    batch_size: int = Field(default=20, ge=1, le=500)  # message bodies fetched per FETCH
    idle: bool = True  # wake the poller on new mail when the server offers IDLE
    idle_renew_seconds: int = Field(default=540, ge=10, le=600)  # RFC 2177: re-issue IDLE within 29 minutes;
    # Exchange drops idle connections sooner, hence under 10 minutes
    max_backoff_seconds: float = Field(default=300.0, gt=0)


class MailboxSettings(Section):
    """Where referrals arrive: a Maildir, Microsoft Graph or Exchange (EWS); each shares one interface."""

    kind: Literal["maildir", "imap", "graph", "ews"] = "maildir"
    name: str = "intake"
    path: Path = Path("var/mailbox")
    imap: ImapSettings = Field(default_factory=ImapSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    ews: EwsSettings = Field(default_factory=EwsSettings)

    @model_validator(mode="after")
    def _complete_for_its_kind(self) -> MailboxSettings:
        # An empty host or client id would only fail at the first poll, as a connection or token error that
        # reads like an outage; said at start-up it is a setting to fill in.
        if self.kind == "imap":
            _require("mailbox.imap", _imap_needs(self.imap), self.kind)
        elif self.kind == "graph":
            _require("mailbox.graph", _graph_needs(self.graph, user=True), self.kind)
        elif self.kind == "ews":
            _require("mailbox.ews", _ews_needs(self.ews), self.kind)
        return self


class SmtpOAuthSettings(EntraAppSettings):
    """XOAUTH2 tokens for SMTP from Microsoft Entra ID (msal, client credentials, ``SMTP.SendAsApp``)."""

    scope: str = "https://outlook.office365.com/.default"


class SmtpSettings(Section):
    """An SMTP submission server. Exchange Online: smtp.office365.com:587, STARTTLS, XOAUTH2 (password AUTH is
    switched off by default there at the end of December 2026)."""

    host: str = "smtp.office365.com"
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "tls", "none"] = "starttls"
    auth: Literal["xoauth2", "password", "none"] = "xoauth2"
    username: str = ""  # the sending mailbox, e.g. agem.norfolkmedicineservices@nhs.net
    password: SecretStr = SecretStr("")
    oauth: SmtpOAuthSettings = Field(default_factory=SmtpOAuthSettings)
    ca_file: Path | None = None  # trust this CA bundle instead of the system's (a private or test server)
    timeout_seconds: float = Field(default=30.0, gt=0)


class ReplyLimitSettings(Section):
    """How many automatic replies one sender (per 24 hours) and one submission may get; the rest go to the team."""

    per_sender_per_day: int = Field(default=10, ge=0)
    per_submission: int = Field(default=1, ge=0)


class RetrySettings(Section):
    """How the outbox worker retries: after ``base_seconds``, doubling up to ``max_seconds``, then gives up."""

    max_attempts: int = Field(default=8, ge=1)
    base_seconds: float = Field(default=60.0, ge=0)
    max_seconds: float = Field(default=3600.0, ge=0)


class OutgoingSettings(Section):
    """How the service sends mail: the file outbox (``.eml`` files, the default), SMTP, Graph or EWS.

    ``graph`` sends as ``graph.user`` (default: the service's address) with ``Mail.Send``; ``ews`` is for
    on-premises Exchange only.
    """

    kind: Literal["outbox", "smtp", "graph", "ews"] = "outbox"
    outbox_path: Path = Path("var/outbox")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    ews: EwsSettings = Field(default_factory=EwsSettings)
    reply_limits: ReplyLimitSettings = Field(default_factory=ReplyLimitSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)

    @model_validator(mode="after")
    def _complete_for_its_kind(self) -> OutgoingSettings:
        if self.kind == "smtp":
            _require("outgoing.smtp", _smtp_needs(self.smtp), self.kind)
        elif self.kind == "graph":
            _require("outgoing.graph", _graph_needs(self.graph, user=False), self.kind)
        elif self.kind == "ews":
            _require("outgoing.ews", _ews_needs(self.ews), self.kind)
        return self


def _empty(value: str | SecretStr) -> bool:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return not text.strip()


def _imap_needs(imap: ImapSettings) -> list[str]:
    needed: dict[str, str | SecretStr] = {"host": imap.host, "username": imap.username}
    if imap.auth == "password":
        needed["password"] = imap.password
    else:
        oauth = imap.oauth
        needed |= {"oauth.tenant_id": oauth.tenant_id, "oauth.client_id": oauth.client_id}
        if oauth.flow == "client_credentials":
            needed["oauth.client_secret"] = oauth.client_secret
    return [name for name, value in needed.items() if _empty(value)]


def _graph_needs(graph: GraphSettings, *, user: bool) -> list[str]:
    needed: dict[str, str | SecretStr] = {
        "tenant_id": graph.tenant_id,
        "client_id": graph.client_id,
        "client_secret": graph.client_secret,
    }
    if user:  # sending defaults to the service's own address; reading has no such default
        needed["user"] = graph.user
    return [name for name, value in needed.items() if _empty(value)]


def _ews_needs(ews: EwsSettings) -> list[str]:
    missing = ["server or service_endpoint"] if _empty(ews.server) and _empty(ews.service_endpoint) else []
    needed: dict[str, str | SecretStr] = {"address": ews.address}
    if ews.auth == "oauth2":
        needed |= {"tenant_id": ews.tenant_id, "client_id": ews.client_id, "client_secret": ews.client_secret}
    else:
        needed |= {"username": ews.username, "password": ews.password}
    return missing + [name for name, value in needed.items() if _empty(value)]


def _smtp_needs(smtp: SmtpSettings) -> list[str]:
    needed: dict[str, str | SecretStr] = {"host": smtp.host}
    if smtp.auth == "password":
        needed["password"] = smtp.password
    elif smtp.auth == "xoauth2":
        oauth = smtp.oauth
        needed |= {
            "oauth.tenant_id": oauth.tenant_id,
            "oauth.client_id": oauth.client_id,
            "oauth.client_secret": oauth.client_secret,
        }
    return [name for name, value in needed.items() if _empty(value)]


def _require(section: str, missing: list[str], kind: str) -> None:
    if missing:
        raise ValueError(f'kind = "{kind}" needs {", ".join(missing)} in [{section}]')


class EligibilitySettings(Section):
    """Who the service is for: the minimum age on the day received, and the commissioners (sub-ICB location
    codes, e.g. 26A for Norfolk & Waveney) whose GP practices ``practices import`` takes from epraccur."""

    min_age: int = Field(default=18, ge=0, le=120)
    commissioners: list[str] = Field(default_factory=lambda: ["26A"])


class ServiceSettings(Section):
    """Who the service is, as its automatic replies say, and the rules it applies.

    ``secure_domains``: email domains patient data may go to (nhs.net and the DCB1596 accredited domains),
    matched exactly. ``triage_file``: the triage rules (default: the packaged ``config/triage.toml``).
    """

    name: str = "Norfolk Medicines Support Service"
    address: str = "agem.norfolkmedicineservices@nhs.net"
    other_addresses: list[str] = Field(default_factory=list)
    team_addresses: list[str] = Field(default_factory=list)  # alerts about the service, the digest, reminders
    telephone: str = "01603 257006 / 257007"
    opening_hours: str = "Monday to Friday, 09:00 to 17:00"
    timezone: str = "Europe/London"
    secure_domains: list[str] = Field(default_factory=lambda: ["nhs.net"])
    eligibility: EligibilitySettings = Field(default_factory=EligibilitySettings)
    triage_file: Path | None = None
    ocr_min_confidence: float = Field(default=0.9, ge=0.0, le=1.0)
    """A form read by OCR is decided automatically only when every value on it was read at least this surely
    (0 to 1); otherwise it goes to the team with the uncertain fields marked."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: use a tz database name such as Europe/London") from exc
        return value

    @property
    def addresses(self) -> frozenset[str]:
        """Every address that is the service itself, lower-cased: mail from these never gets a reply."""
        return frozenset(a.lower() for a in (self.address, *self.other_addresses))

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


class LimitSettings(Section):
    """Guards against hostile input."""

    max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, gt=0)  # measured before a message is read
    max_attachment_bytes: int = 50 * 1024 * 1024
    # Each document is parsed in a worker process: past the time limit, or over the memory cap (the worker's
    # address space), the worker is replaced and the document reported as "timeout" or "too_large".
    parse_timeout_seconds: float = Field(default=30.0, gt=0)
    parse_memory_mb: int = Field(default=512, ge=128)
    parse_workers: int = Field(default=1, ge=1, le=16)
    # A message's documents all together: once spent, what is left unread is "timeout" and the message goes
    # to the team, so forty slow files cannot hold the mail behind them for forty parse limits.
    message_budget_seconds: float = Field(default=120.0, gt=0)


class HealthSettings(Section):
    """When the team hears that a mailbox cannot be read."""

    alert_after_failures: int = Field(default=3, ge=1)


class LeaseSettings(Section):
    """Two or more instances on one PostgreSQL database: one polls each mailbox, the others stand by.

    ``takeover_seconds`` bounds how long a mailbox goes unpolled after its poller dies: a standby tries to take
    the lease twice in that time, and a holder whose host or network died loses it within it.
    """

    takeover_seconds: float = Field(default=30.0, ge=1, le=3600)


class DigestSettings(Section):
    """The team's morning digest and follow-up reminders, sent to ``service.team_addresses`` on secure domains.

    ``send_at`` is a Europe/London time on working days; ``incomplete_days`` is how many working days an
    incomplete submission stays in the digest while the team waits on its referrer.
    """

    send_at: dt.time = dt.time(8, 30)
    incomplete_days: int = Field(default=15, ge=1)


class RetentionSettings(Section):
    """How long the service keeps what it holds once it is no longer needed (UK GDPR storage limitation).

    ``copies_days``: raw bytes of incoming mail (a quarantined message's copy, a document's original file),
    counted from the day its referral is closed (assessed, every follow-up call made) or, for a submission
    that never became a referral, the day it was filed; and of outgoing email, from the day it was sent.
    ``patient_days``: the patient's details on a closed referral and the values read from its forms, counted
    the same way. Nothing still open is ever purged. The audit trail (codes and ids) is kept.
    """

    copies_days: int = Field(default=30, ge=1)
    patient_days: int = Field(default=365, ge=30)


class MonitoringSettings(Section):
    """The daemon's own HTTP endpoints for the container's health check and Prometheus: ``/healthz``,
    ``/readyz`` and ``/metrics``. Off unless ``enabled``; no patient data is ever served there.

    ``/readyz`` fails while the mailbox's last good poll (as the daemon records it) is older than
    ``stale_after_seconds`` or ``health.alert_after_failures`` polls in a row have failed.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, lt=65536)  # 0: any free port (the log says which)
    stale_after_seconds: int = Field(default=600, ge=10)


class OpenIdSettings(BaseModel):
    """Sign-in to the workspace with OpenID Connect (NHSmail is Microsoft Entra ID).

    ``issuer`` is the provider's issuer URL, whose ``/.well-known/openid-configuration`` says the rest
    (Entra ID: ``https://login.microsoftonline.com/TENANT/v2.0``). Empty: local accounts only. The redirect
    URI to register with the provider is the workspace's address followed by ``/sign-in/callback``.
    """

    issuer: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    button: str = "Sign in with NHSmail"


class WebSettings(BaseModel):
    """The team's workspace (``nmss-intake web``).

    ``secret_key`` signs the session cookie; empty, one is made once and kept in ``state_dir``. A session ends
    after ``idle_minutes`` without a request. ``secure_cookies`` stays on except behind plain HTTP on a
    machine's own loopback address, which browsers treat as secure anyway.
    """

    secret_key: SecretStr = SecretStr("")
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    secure_cookies: bool = True
    page_size: int = Field(default=25, ge=5, le=200)
    openid: OpenIdSettings = Field(default_factory=OpenIdSettings)


class Settings(BaseSettings):
    """Everything the service reads at start-up."""

    model_config = SettingsConfigDict(env_prefix="NMSS_", env_nested_delimiter="__", extra="forbid")

    database_url: SecretStr = SecretStr("sqlite:///var/nmss.db")
    state_dir: Path = Path("var")
    forms_dir: Path | None = None
    poll_interval_seconds: int = Field(default=60, ge=5)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    mailbox: MailboxSettings = Field(default_factory=MailboxSettings)
    # Several mailboxes, each with a poller, a ledger, folders and health of its own (``[[mailboxes]]``, e.g.
    # the referral mailbox and a MAR registrations mailbox); empty: the one ``[mailbox]``.
    mailboxes: list[MailboxSettings] = Field(default_factory=list)
    outgoing: OutgoingSettings = Field(default_factory=OutgoingSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    lease: LeaseSettings = Field(default_factory=LeaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    @model_validator(mode="after")
    def _mailboxes_named_once(self) -> Settings:
        if self.mailboxes and "mailbox" in self.model_fields_set:
            raise ValueError("both [mailbox] and [[mailboxes]] are set: list every mailbox under [[mailboxes]]")
        names = [mailbox.name for mailbox in self.mailboxes]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                f"[[mailboxes]] names {', '.join(twice)} more than once: each mailbox needs a name of its own"
            )
        return self

    @property
    def polled_mailboxes(self) -> tuple[MailboxSettings, ...]:
        """Every mailbox the service polls: those of ``[[mailboxes]]``, or else the one ``[mailbox]``."""
        return tuple(self.mailboxes) or (self.mailbox,)

    def for_mailbox(self, mailbox: MailboxSettings) -> Settings:
        """These settings with ``mailbox`` as ``[mailbox]``: what a mailbox adapter builds itself from."""
        return self.model_copy(update={"mailbox": mailbox})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - pydantic's signature; no .env here
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file.get() or DEFAULT_CONFIG_FILE
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))


class ConfigFileMissing(FileNotFoundError):
    """Raised when ``--config PATH`` names a file that does not exist (the default file may be absent)."""


def load_settings(config_file: Path | None = None) -> Settings:
    """Read settings from ``config_file`` (default ``./nmss-intake.toml`` when present) and the environment.

    Raises:
        ConfigFileMissing: ``config_file`` was given and is not a file.
        SettingsError: the file is not valid TOML, or a key is unknown or a value invalid; one line each.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigFileMissing(f"no configuration file at {config_file}")
    file = config_file or DEFAULT_CONFIG_FILE
    data = _read_toml(file) if file.is_file() else {}
    token = _config_file.set(config_file)
    try:
        return Settings()
    except ValidationError as exc:
        raise validation_problems(exc, Settings, file=file, file_data=data, environ=os.environ) from exc
    except pydantic_settings.SettingsError as exc:  # an NMSS_… variable that is not the JSON its setting needs
        raise SettingsError([f"environment: {exc}"]) from exc
    finally:
        _config_file.reset(token)


def _read_toml(file: Path) -> dict[str, Any]:
    # Read here as well as by pydantic-settings: a syntax error becomes one line with its position, and the
    # data says which mistakes are the file's rather than an environment variable's.
    try:
        with file.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        raise toml_syntax_error(file, exc) from exc
    except UnicodeDecodeError as exc:
        raise SettingsError([f"{file}: not UTF-8 text"]) from exc
    except OSError as exc:
        raise SettingsError([f"{file}: cannot be read: {exc.strerror}"]) from exc
