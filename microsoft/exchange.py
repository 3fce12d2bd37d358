"""The exchangelib account for an Exchange mailbox (EWS), for the EWS mailbox and the EWS sender alike.

No autodiscover and no version probing: on-premises Exchange is spoken to in the Exchange 2013 schema, which
2013, 2016 and 2019 all understand; Exchange Online (OAuth 2.0 client credentials with impersonation) until it
retires EWS. exchangelib's own retries are off (``FailFast``): a busy or unreachable server fails at once and
the caller decides when to try again.
"""

from __future__ import annotations

from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    Identity,
    OAuth2Credentials,
    Version,
)

from config.settings import EwsSettings

ON_PREMISES = Build(15, 0)  # Exchange 2013: requests in its schema are understood by 2013, 2016 and 2019
EXCHANGE_ONLINE = Build(15, 20)


def account_for(settings: EwsSettings) -> Account:
    """An exchangelib Account for the mailbox ``settings.address``; connects to nothing until first used."""
    if settings.auth == "oauth2":
        credentials: Any = OAuth2Credentials(
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            tenant_id=settings.tenant_id,
            identity=Identity(primary_smtp_address=settings.address),
        )
        auth_type, access, build = OAUTH2, IMPERSONATION, EXCHANGE_ONLINE
    else:
        credentials = Credentials(settings.username, settings.password.get_secret_value())
        auth_type, access, build = (NTLM if settings.auth == "ntlm" else BASIC), DELEGATE, ON_PREMISES
    config = Configuration(
        credentials=credentials,
        server=settings.server or None,
        service_endpoint=settings.service_endpoint or None,
        auth_type=auth_type,
        version=Version(build=build),
        retry_policy=FailFast(),
        max_connections=1,
    )
    account = Account(primary_smtp_address=settings.address, config=config, autodiscover=False, access_type=access)
    account.protocol.TIMEOUT = settings.timeout_seconds
    return account
