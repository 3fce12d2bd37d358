"""Access tokens for XOAUTH2: reused while fresh, and a rotated refresh token is stored before it is used."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from config.settings import ImapOAuthSettings
from intake.oauth import TokenProvider, TokenUnavailable


class FakeMsal:
    """Replays recorded Entra ID token responses, one per call, and records what it was asked."""

    def __init__(self, *responses: dict[str, Any]) -> None:
        self.responses = list(responses)
        self.calls: list[tuple[str, ...]] = []

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.calls.append(("client", *scopes))
        return self.responses.pop(0)

    def acquire_token_by_refresh_token(self, refresh_token: str, scopes: list[str]) -> dict[str, Any]:
        self.calls.append(("refresh", refresh_token, *scopes))
        return self.responses.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def token_response(access: str, refresh: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3599, "access_token": access}
    if refresh:
        response["refresh_token"] = refresh
    return response


def test_a_client_credentials_token_is_reused_until_five_minutes_before_it_expires() -> None:
    app = FakeMsal(token_response("first"), token_response("second"))
    clock = Clock()
    provider = TokenProvider(ImapOAuthSettings(client_id="app"), app=app, clock=clock)

    assert provider.token() == "first"
    clock.now += 3000
    assert provider.token() == "first"
    clock.now += 400
    assert provider.token() == "second"
    assert app.calls == [("client", "https://outlook.office365.com/.default")] * 2


def test_a_rotated_refresh_token_is_stored_for_next_time_readable_by_the_service_only(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    cache.write_text(json.dumps({"refresh_token": "r1"}))
    settings = ImapOAuthSettings(flow="refresh_token", client_id="app", token_cache_path=cache)
    app = FakeMsal(token_response("a1", refresh="r2"), token_response("a2", refresh="r2"))
    clock = Clock()
    provider = TokenProvider(settings, app=app, clock=clock)

    assert provider.token() == "a1"
    assert json.loads(cache.read_text()) == {"refresh_token": "r2"}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    clock.now += 4000
    assert TokenProvider(settings, app=app, clock=clock).token() == "a2"
    assert [call[1] for call in app.calls] == ["r1", "r2"]


def test_a_refused_request_names_the_error_code_and_never_the_description_or_token(tmp_path: Path) -> None:
    refusal = {"error": "invalid_client", "error_description": "AADSTS7000215: secret s3cr3t is wrong"}
    provider = TokenProvider(ImapOAuthSettings(client_id="app"), app=FakeMsal(refusal))

    with pytest.raises(TokenUnavailable, match="invalid_client") as raised:
        provider.token()
    assert "s3cr3t" not in str(raised.value)


def test_the_refresh_token_flow_without_a_stored_token_says_where_it_looked(tmp_path: Path) -> None:
    settings = ImapOAuthSettings(flow="refresh_token", token_cache_path=tmp_path / "none.json")

    with pytest.raises(TokenUnavailable, match=r"none\.json"):
        TokenProvider(settings, app=FakeMsal()).token()
