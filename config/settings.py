"""Service settings: a TOML file, overridden by ``NMSS_…`` environment variables, over embedded defaults.

With no file and no variables the service runs on its embedded defaults: SQLite at ``var/nmss.db``, a Maildir
at ``var/mailbox`` and outgoing mail written as ``.eml`` files to ``var/outbox``. Secrets are ``SecretStr`` so
they print as ``**********``. Nested settings take a double underscore: ``NMSS_MAILBOX__PATH=/srv/mail``.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("nmss-intake.toml")

_config_file: ContextVar[Path | None] = ContextVar("nmss_config_file", default=None)


class MailboxSettings(BaseModel):
    """Where referrals arrive. Only the Maildir is built so far; the others share its interface."""

    kind: Literal["maildir"] = "maildir"
    name: str = "intake"
    path: Path = Path("var/mailbox")


class OutgoingSettings(BaseModel):
    """How the service sends mail. The file outbox writes each message as an ``.eml`` file."""

    kind: Literal["outbox"] = "outbox"
    outbox_path: Path = Path("var/outbox")


class ServiceSettings(BaseModel):
    """Who the service is, as its automatic replies say."""

    name: str = "Norfolk Medicines Support Service"
    address: str = "agem.norfolkmedicineservices@nhs.net"
    other_addresses: list[str] = Field(default_factory=list)
    telephone: str = "01603 257006 / 257007"
    opening_hours: str = "Monday to Friday, 09:00 to 17:00"
    timezone: str = "Europe/London"

    @property
    def addresses(self) -> frozenset[str]:
        """Every address that is the service itself, lower-cased: mail from these never gets a reply."""
        return frozenset(a.lower() for a in (self.address, *self.other_addresses))

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


class LimitSettings(BaseModel):
    """Guards against hostile input."""

    max_message_bytes: int = 60 * 1024 * 1024
    max_attachment_bytes: int = 50 * 1024 * 1024


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
