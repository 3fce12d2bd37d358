"""Service settings: a TOML file, overridden by ``NMSS_…`` environment variables, over embedded defaults.

With no file and no variables the service runs on its embedded defaults: SQLite at ``var/nmss.db``, a Maildir
at ``var/mailbox`` and outgoing mail written as ``.eml`` files to ``var/outbox``. Secrets are ``SecretStr`` so
they print as ``**********``. Nested settings take a double underscore: ``NMSS_MAILBOX__PATH=/srv/mail``.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("nmss-intake.toml")

MAX_MESSAGE_BYTES = 80 * 1024 * 1024
"""The default ``limits.max_message_bytes``: a 50 MB attachment is about 69 MB once base64-encoded."""

_config_file: ContextVar[Path | None] = ContextVar("nmss_config_file", default=None)


class EntraAppSettings(BaseModel):
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


class EwsSettings(BaseModel):
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


class ImapSettings(BaseModel):
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


class MailboxSettings(BaseModel):
    """Where referrals arrive: a Maildir, Microsoft Graph or Exchange (EWS); each shares one interface."""

    kind: Literal["maildir", "imap", "graph", "ews"] = "maildir"
    name: str = "intake"
    path: Path = Path("var/mailbox")
    imap: ImapSettings = Field(default_factory=ImapSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    ews: EwsSettings = Field(default_factory=EwsSettings)


class SmtpOAuthSettings(EntraAppSettings):
    """XOAUTH2 tokens for SMTP from Microsoft Entra ID (msal, client credentials, ``SMTP.SendAsApp``)."""

    scope: str = "https://outlook.office365.com/.default"


class SmtpSettings(BaseModel):
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


class ReplyLimitSettings(BaseModel):
    """How many automatic replies one sender (per 24 hours) and one submission may get; the rest go to the team."""

    per_sender_per_day: int = Field(default=3, ge=0)
    per_submission: int = Field(default=1, ge=0)


class RetrySettings(BaseModel):
    """How the outbox worker retries: after ``base_seconds``, doubling up to ``max_seconds``, then gives up."""

    max_attempts: int = Field(default=8, ge=1)
    base_seconds: float = Field(default=60.0, ge=0)
    max_seconds: float = Field(default=3600.0, ge=0)


class OutgoingSettings(BaseModel):
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


class EligibilitySettings(BaseModel):
    """Who the service is for: the minimum age on the day received, and the commissioners (sub-ICB location
    codes, e.g. 26A for Norfolk & Waveney) whose GP practices ``practices import`` takes from epraccur."""

    min_age: int = Field(default=18, ge=0, le=120)
    commissioners: list[str] = Field(default_factory=lambda: ["26A"])


class ServiceSettings(BaseModel):
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


class LimitSettings(BaseModel):
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


class HealthSettings(BaseModel):
    """When the team hears that a mailbox cannot be read."""

    alert_after_failures: int = Field(default=3, ge=1)


class DigestSettings(BaseModel):
    """The team's morning digest and follow-up reminders, sent to ``service.team_addresses`` on secure domains.

    ``send_at`` is a Europe/London time on working days; ``incomplete_days`` is how many working days an
    incomplete submission stays in the digest while the team waits on its referrer.
    """

    send_at: dt.time = dt.time(8, 30)
    incomplete_days: int = Field(default=15, ge=1)


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
    outgoing: OutgoingSettings = Field(default_factory=OutgoingSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)

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
    """Read settings from ``config_file`` (default ``./nmss-intake.toml`` when present) and the environment."""
    if config_file is not None and not config_file.is_file():
        raise ConfigFileMissing(f"no configuration file at {config_file}")
    token = _config_file.set(config_file)
    try:
        return Settings()
    finally:
        _config_file.reset(token)
