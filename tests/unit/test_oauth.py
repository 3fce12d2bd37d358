"""Access tokens from Entra ID: reused while fresh, and a rotated refresh token is stored before it is used."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from config.settings import ImapOAuthSettings
from microsoft.entra import OUTLOOK_SCOPE, TokenProvider, TokenRefused, TokenUnreachable


class FakeMsal:
    """Replays recorded Entra ID token responses, one per call, and records what it was asked."""

    def __init__(self, *responses: dict[str, Any] | Exception) -> None:
        self.responses = list(responses)
        self.calls: list[tuple[str, ...]] = []

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.calls.append(("client", *scopes))
        return self._next()

    def acquire_token_by_refresh_token(self, refresh_token: str, scopes: list[str]) -> dict[str, Any]:
        self.calls.append(("refresh", refresh_token, *scopes))
        return self._next()

    def _next(self) -> dict[str, Any]:
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def token_response(access: str, refresh: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3599, "access_token": access}
    if refresh:
        response["refresh_token"] = refresh
    return response


def refresh_flow(cache: Path, app: FakeMsal, clock: Clock | None = None) -> TokenProvider:
    settings = ImapOAuthSettings(flow="refresh_token", client_id="app", token_cache_path=cache)
    return TokenProvider(settings, scopes=settings.scopes, refresh_token_path=cache, app=app, clock=clock or Clock())


def test_a_client_credentials_token_is_reused_until_five_minutes_before_it_expires() -> None:
    app = FakeMsal(token_response("first"), token_response("second"))
    clock = Clock()
    provider = TokenProvider(ImapOAuthSettings(client_id="app"), scopes=[OUTLOOK_SCOPE], app=app, clock=clock)

    assert provider.token() == "first"
    clock.advance(3000)
    assert provider.token() == "first"
    clock.advance(400)
    assert provider.token() == "second"
    assert app.calls == [("client", "https://outlook.office365.com/.default")] * 2
    assert provider.expires_at == clock.now + dt.timedelta(seconds=3599)


def test_a_rotated_refresh_token_is_stored_for_next_time_readable_by_the_service_only(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    cache.write_text(json.dumps({"refresh_token": "r1"}))
    app = FakeMsal(token_response("a1", refresh="r2"), token_response("a2", refresh="r2"))
    clock = Clock()

    assert refresh_flow(cache, app, clock).token() == "a1"
    assert json.loads(cache.read_text()) == {"refresh_token": "r2"}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    clock.advance(4000)
    assert refresh_flow(cache, app, clock).token() == "a2"
    assert [call[1] for call in app.calls] == ["r1", "r2"]


def test_a_refused_request_names_the_error_code_and_never_the_description_or_token() -> None:
    refusal = {"error": "invalid_client", "error_description": "AADSTS7000215: secret s3cr3t is wrong"}
    provider = TokenProvider(ImapOAuthSettings(client_id="app"), scopes=[OUTLOOK_SCOPE], app=FakeMsal(refusal))

    with pytest.raises(TokenRefused, match="invalid_client") as raised:
        provider.token()
    assert "s3cr3t" not in str(raised.value)
    assert raised.value.code == "invalid_client"


def test_the_refresh_token_flow_without_a_stored_token_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(TokenRefused, match=r"none\.json"):
        refresh_flow(tmp_path / "none.json", FakeMsal()).token()


def test_entra_id_out_of_reach_is_a_failure_to_retry_not_a_refusal() -> None:
    app = FakeMsal(ConnectionError("no route to host"), token_response("later"))
    provider = TokenProvider(ImapOAuthSettings(client_id="app"), scopes=[OUTLOOK_SCOPE], app=app)

    with pytest.raises(TokenUnreachable):
        provider.token()
    assert provider.token() == "later"
