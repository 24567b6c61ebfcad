"""OpenID Connect sign-in against a fake provider (tests/hub/accounts/fake_idp.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from hub.accounts.models import Identity
from hub.accounts.oidc import OIDCClient
from tests.helpers import BOTH_DATABASES

from .fake_idp import CLIENT_ID, CLIENT_SECRET, ISSUER, FakeIdP, rsa_key
from .helpers import (
    PASSWORD,
    count,
    session_count,
    signed_up,
    update_user,
    use_settings,
    user_count,
    user_row,
)

HTML = {"accept": "text/html"}


@pytest.fixture
def idp(ctx: Any) -> FakeIdP:
    provider = FakeIdP()
    use_settings(
        ctx,
        {
            "oidc_issuer": ISSUER,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            "oidc_name": "Test IdP",
        },
    )
    ctx.oidc = OIDCClient(transport=httpx.ASGITransport(app=provider.app))
    return provider


async def _start(client: httpx.AsyncClient, next_url: str = "/") -> httpx.Response:
    response = await client.get("/auth/oidc/oidc/login", params={"next": next_url}, headers=HTML)
    assert response.status_code == 302, response.text
    return response


async def _at_idp(idp: FakeIdP, location: str) -> str:
    """The browser visiting the provider's authorize URL; returns where it is sent back."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=idp.app), base_url=ISSUER
    ) as browser:
        response = await browser.get(location)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def sign_in(client: httpx.AsyncClient, idp: FakeIdP, next_url: str = "/") -> httpx.Response:
    start = await _start(client, next_url)
    callback = await _at_idp(idp, start.headers["location"])
    return await client.get(callback, headers=HTML)


async def identities(ctx: Any) -> list[Identity]:
    async with ctx.db.unit_of_work() as session:
        return list(await session.scalars(select(Identity)))


@BOTH_DATABASES
async def test_first_sign_in_creates_an_account(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    response = await sign_in(client, idp, "/rooms/abc")
    assert response.status_code == 303
    assert response.headers["location"] == "/rooms/abc"
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "alice"
    assert body["display_name"] == "Alice Liddell"
    assert body["email_verified"] is True
    assert body["has_password"] is False
    [identity] = await identities(ctx)
    assert (identity.provider, identity.subject) == ("oidc", "idp-user-1")
    # The flow cookie is single-use: it is cleared on success.
    assert any(
        c.startswith("hub_oidc=") and ("Max-Age=0" in c or 'hub_oidc=""' in c)
        for c in response.headers.get_list("set-cookie")
    )


async def test_login_redirect_carries_state_nonce_and_pkce(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    start = await _start(client)
    url = urlsplit(start.headers["location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/auth/oidc/oidc/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    flow_cookie = start.headers["set-cookie"]
    assert flow_cookie.startswith("hub_oidc=")
    assert "HttpOnly" in flow_cookie
    assert "Path=/auth/oidc" in flow_cookie
    # The verifier stays with the browser's signed cookie, never in the URL.
    assert "code_verifier" not in start.headers["location"]


async def test_second_sign_in_finds_the_same_account(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    assert (await sign_in(client, idp)).status_code == 303
    client.cookies.clear()
    idp.claims["email"] = "renamed@example.com"
    assert (await sign_in(client, idp)).status_code == 303
    assert await user_count(ctx) == 1
    [identity] = await identities(ctx)
    assert identity.email == "renamed@example.com"


@BOTH_DATABASES
async def test_verified_email_links_to_a_verified_account_and_keeps_it(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    await signed_up(client, email="alice@example.com")
    await update_user(ctx, "alice", email_verified=True)
    client.cookies.clear()
    response = await sign_in(client, idp)
    assert response.status_code == 303
    me = (await client.get("/api/v1/me")).json()
    assert me["username"] == "alice"
    assert me["has_password"] is True
    assert await user_count(ctx) == 1
    assert len(await identities(ctx)) == 1
    assert await session_count(ctx) == 2
    login = await client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    assert login.status_code == 200


async def test_linking_an_unverified_account_evicts_a_pre_hijacker(
    app: Any, client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    # Someone registered the victim's address first (we never verified it) ...
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"origin": "http://testserver"}
    ) as attacker:
        csrf = await signed_up(attacker, "squatter", email="alice@example.com")
        pat = await attacker.post(
            "/api/v1/me/tokens", json={"name": "keep"}, headers={"x-csrf-token": csrf}
        )
        secret = pat.json()["secret"]
        # ... then the real owner signs in with the provider that verified the address.
        assert (await sign_in(client, idp)).status_code == 303
        assert (await client.get("/api/v1/me")).json()["username"] == "squatter"
        # The squatter's password, session and tokens are all gone.
        assert (await attacker.get("/api/v1/me")).status_code == 401
        attacker.cookies.clear()
        token_use = await attacker.get("/api/v1/me", headers={"authorization": f"Bearer {secret}"})
        assert token_use.status_code == 401
        login = await attacker.post(
            "/api/v1/auth/login", json={"login": "squatter", "password": PASSWORD}
        )
        assert login.status_code == 401
    user = await user_row(ctx, "squatter")
    assert user is not None
    assert user.password_hash is None
    assert user.email_verified is True


async def test_unverified_email_never_links(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    await signed_up(client, email="alice@example.com")
    client.cookies.clear()
    idp.claims["email_verified"] = False
    response = await sign_in(client, idp)
    assert response.status_code == 409
    assert "text/html" in response.headers["content-type"]
    assert await identities(ctx) == []
    assert await session_count(ctx) == 1
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_unverified_email_creates_an_unverified_account(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    idp.claims["email_verified"] = "false"
    assert (await sign_in(client, idp)).status_code == 303
    assert (await client.get("/api/v1/me")).json()["email_verified"] is False


async def test_sign_in_without_email_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    del idp.claims["email"]
    response = await sign_in(client, idp)
    assert response.status_code == 400
    assert await user_count(ctx) == 0


async def test_username_is_made_unique(client: httpx.AsyncClient, ctx: Any, idp: FakeIdP) -> None:
    await signed_up(client, "alice", email="other@example.com")
    client.cookies.clear()
    assert (await sign_in(client, idp)).status_code == 303
    me = (await client.get("/api/v1/me")).json()
    assert me["username"].startswith("alice_")
    assert await user_count(ctx) == 2


async def test_disabled_linked_account_cannot_sign_in(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    await sign_in(client, idp)
    await update_user(ctx, "alice", is_active=False)
    client.cookies.clear()
    response = await sign_in(client, idp)
    assert response.status_code == 403
    assert await session_count(ctx) == 1


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda claims: {**claims, name: value}


def _drop(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda claims: {k: v for k, v in claims.items() if k != name}


@pytest.mark.parametrize(
    ("tamper", "label"),
    [
        (_set("nonce", "replayed-nonce"), "nonce"),
        (_drop("nonce"), "no-nonce"),
        (_set("aud", "someone-else"), "aud"),
        (_set("aud", [CLIENT_ID, "other"]), "azp"),
        (_set("iss", "https://evil.example"), "iss"),
        (_set("exp", 1_000_000), "expired"),
        (_set("iat", 4_000_000_000), "future-iat"),
        (_drop("sub"), "no-sub"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_bad_id_token_claims_are_refused(
    client: httpx.AsyncClient,
    ctx: Any,
    idp: FakeIdP,
    tamper: Callable[[dict[str, Any]], dict[str, Any]],
    label: str,
) -> None:
    idp.tamper = tamper
    response = await sign_in(client, idp)
    assert response.status_code == 400, label
    assert await user_count(ctx) == 0
    assert await session_count(ctx) == 0


async def test_id_token_signed_by_another_key_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    impostor = rsa_key("k1-impostor")
    idp.sign_with = impostor.__class__.import_key(impostor.as_dict(private=True) | {"kid": "k1"})
    response = await sign_in(client, idp)
    assert response.status_code == 400
    assert await user_count(ctx) == 0


async def test_id_token_with_a_symmetric_algorithm_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    from joserfc.jwk import OctKey

    # Algorithm confusion: an HMAC "signature" keyed with something public.
    idp.algorithm = "HS256"
    idp.sign_with = OctKey.import_key(CLIENT_SECRET.encode() * 2, {"kid": "k1"})  # type: ignore[assignment]
    response = await sign_in(client, idp)
    assert response.status_code == 400
    assert await user_count(ctx) == 0


async def test_rotated_signing_key_is_fetched_once(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    assert (await sign_in(client, idp)).status_code == 303
    assert idp.jwks_hits == 1
    idp.key = rsa_key("k2")
    client.cookies.clear()
    assert (await sign_in(client, idp)).status_code == 303
    assert idp.jwks_hits == 2
    assert idp.discovery_hits == 1  # discovery stays cached


async def test_callback_with_wrong_state_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    start = await _start(client)
    callback = await _at_idp(idp, start.headers["location"])
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    response = await client.get(
        parts.path, params={"code": query["code"], "state": "forged"}, headers=HTML
    )
    assert response.status_code == 400
    assert idp.token_requests == []  # refused before the code was spent
    assert await session_count(ctx) == 0


async def test_callback_without_flow_cookie_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    start = await _start(client)
    callback = await _at_idp(idp, start.headers["location"])
    client.cookies.clear()
    response = await client.get(callback, headers=HTML)
    assert response.status_code == 400
    assert await session_count(ctx) == 0


async def test_callback_with_tampered_flow_cookie_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    start = await _start(client)
    callback = await _at_idp(idp, start.headers["location"])
    value = client.cookies["hub_oidc"]
    client.cookies.clear()
    client.cookies.set("hub_oidc", value[:-2] + "xx", path="/auth/oidc")
    response = await client.get(callback, headers=HTML)
    assert response.status_code == 400


async def test_code_cannot_be_replayed(client: httpx.AsyncClient, ctx: Any, idp: FakeIdP) -> None:
    start = await _start(client)
    callback = await _at_idp(idp, start.headers["location"])
    cookie = client.cookies["hub_oidc"]
    assert (await client.get(callback, headers=HTML)).status_code == 303
    client.cookies.clear()
    client.cookies.set("hub_oidc", cookie, path="/auth/oidc")
    again = await client.get(callback, headers=HTML)
    assert again.status_code == 400


@pytest.mark.parametrize(
    "query",
    [{"error": "access_denied", "state": "x"}, {"state": "x"}, {}],
    ids=["provider-error", "no-code", "nothing"],
)
async def test_callback_refuses_errors_and_missing_parameters(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP, query: dict[str, str]
) -> None:
    await _start(client)
    response = await client.get("/auth/oidc/oidc/callback", params=query, headers=HTML)
    assert response.status_code == 400
    assert await session_count(ctx) == 0


async def test_unknown_provider_is_404(client: httpx.AsyncClient, ctx: Any, idp: FakeIdP) -> None:
    assert (await client.get("/auth/oidc/github/login")).status_code == 404
    assert (await client.get("/auth/oidc/github/callback?code=x&state=y")).status_code == 404


async def test_unconfigured_generic_provider_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/auth/oidc/oidc/login")).status_code == 404


async def test_discovery_naming_another_issuer_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    idp.metadata_overrides = {"issuer": "https://other.test"}
    response = await client.get("/auth/oidc/oidc/login", headers=HTML)
    assert response.status_code == 400


async def test_unreachable_provider_is_a_clear_error(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ctx.oidc = OIDCClient(transport=httpx.MockTransport(refuse))
    response = await client.get("/auth/oidc/oidc/login", headers=HTML)
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]


async def test_token_endpoint_refusal_is_a_clear_error(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    idp.client_secret = "rotated-at-the-provider"
    response = await sign_in(client, idp)
    assert response.status_code == 400
    assert "invalid_client" in response.text
    assert await user_count(ctx) == 0


async def test_google_preset_redirects_to_google(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(
        ctx,
        {
            "oidc_google_client_id": "g-client",
            "oidc_google_client_secret": SecretStr("g-secret"),
        },
    )
    response = await client.get("/auth/oidc/google/login", params={"next": "/x"})
    assert response.status_code == 302
    url = urlsplit(response.headers["location"])
    assert url.netloc == "accounts.google.com"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == "g-client"
    assert query["redirect_uri"] == "http://testserver/auth/oidc/google/callback"
    assert query["code_challenge_method"] == "S256"
    providers = (await client.get("/api/v1/auth/providers")).json()["providers"]
    assert [p["name"] for p in providers] == ["google"]


async def test_identity_rows_are_unique_per_provider_subject(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    await sign_in(client, idp)
    await sign_in(client, idp)
    assert await count(ctx, Identity) == 1


async def test_client_secret_post_is_used_when_basic_is_not_offered(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    idp.metadata_overrides = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
    response = await sign_in(client, idp)
    # The fake insists on Basic, so it refuses; what matters is what the hub sent.
    assert response.status_code == 400
    [sent] = idp.token_requests
    assert sent["client_secret"] == CLIENT_SECRET
    assert sent["code_verifier"]


@pytest.mark.parametrize(
    "jwks", [{"keys": "nope"}, ["not", "an", "object"]], ids=["bad-keys", "not-object"]
)
async def test_unreadable_signing_keys_are_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP, jwks: Any
) -> None:
    idp.jwks_body = jwks
    response = await sign_in(client, idp)
    assert response.status_code == 400
    assert await user_count(ctx) == 0


@pytest.mark.parametrize("endpoint", ["discovery", "jwks", "token"])
async def test_deeply_nested_json_from_the_provider_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP, endpoint: str
) -> None:
    idp.deep_json = endpoint
    if endpoint == "discovery":
        response = await client.get("/auth/oidc/oidc/login", headers=HTML)
    else:
        response = await sign_in(client, idp)
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert await user_count(ctx) == 0


async def test_token_response_without_id_token_is_refused(
    client: httpx.AsyncClient, ctx: Any, idp: FakeIdP
) -> None:
    idp.omit_id_token = True
    response = await sign_in(client, idp)
    assert response.status_code == 400
    assert "no ID token" in response.text
    assert await user_count(ctx) == 0
