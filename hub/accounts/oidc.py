"""Sign-in through OpenID Connect providers (authorization code flow with PKCE).

Providers come from settings: a Google preset (``HUB_OIDC_GOOGLE_CLIENT_ID``/``_SECRET``) and one
generic issuer (``HUB_OIDC_ISSUER``, ``HUB_OIDC_CLIENT_ID``/``_SECRET``, label ``HUB_OIDC_NAME``)
found by discovery. The flow:

1. ``/auth/oidc/{provider}/login`` makes ``state``, ``nonce`` and a PKCE verifier, keeps them in a
   short-lived signed, HttpOnly cookie (nothing server-side to clean up) and redirects to the
   provider's authorization endpoint.
2. ``/auth/oidc/{provider}/callback`` checks the state against the cookie, exchanges the code (with
   the verifier) at the token endpoint, and validates the ID token: signature against the
   provider's JWKS (re-fetched once on an unknown ``kid``, for key rotation), ``iss``, ``aud``,
   ``azp``, ``exp``, ``iat`` and ``nonce``.

authlib supplies discovery-document validation, the authorization URL and the PKCE challenge; the
JOSE work uses joserfc (authlib's successor for JOSE). authlib's httpx client integration is not
used: in authlib 1.9 importing it emits a deprecation warning (it wants the ``httpx2`` fork), so the
token request goes through the project's httpx directly.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.discovery import OpenIDProviderMetadata  # type: ignore[import-untyped]
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from hub.accounts.errors import OIDCFailed
from hub.accounts.security import derive_key, same_secret
from hub.settings import Settings
from rooms import jsontext

GOOGLE_ISSUER = "https://accounts.google.com"
# Google's endpoints are stable and published; fixing them saves a discovery round trip and lets
# the login redirect work even when discovery is slow.
GOOGLE_METADATA: dict[str, Any] = {
    "issuer": GOOGLE_ISSUER,
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    "id_token_signing_alg_values_supported": ["RS256"],
}
SCOPE = "openid email profile"
FLOW_COOKIE = "hub_oidc"
FLOW_MAX_AGE = 600
# Asymmetric algorithms only: with HS256 allowed, a token "signed" with a public key used as an
# HMAC secret (algorithm confusion) could pass.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
CACHE_SECONDS = 3600
HTTP_TIMEOUT = 10.0
CLOCK_LEEWAY = 60


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str
    accepted_issuers: frozenset[str]
    static_metadata: dict[str, Any] | None = None


def configured_providers(settings: Settings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if settings.oidc_google_client_id:
        providers["google"] = Provider(
            name="google",
            label="Google",
            issuer=GOOGLE_ISSUER,
            client_id=settings.oidc_google_client_id,
            client_secret=settings.oidc_google_client_secret.get_secret_value(),
            # Google documents both spellings of its issuer in ID tokens.
            accepted_issuers=frozenset({GOOGLE_ISSUER, "accounts.google.com"}),
            static_metadata=GOOGLE_METADATA,
        )
    if settings.oidc_issuer and settings.oidc_client_id:
        issuer = settings.oidc_issuer.rstrip("/")
        providers["oidc"] = Provider(
            name="oidc",
            label=settings.oidc_name,
            issuer=issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            accepted_issuers=frozenset({issuer}),
        )
    return providers


def redirect_uri(settings: Settings, provider: Provider) -> str:
    return f"{settings.public_url.rstrip('/')}/auth/oidc/{provider.name}/callback"


# --------------------------------------------------------------------------------------------
# The flow cookie: state, nonce and PKCE verifier between login and callback
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    provider: str
    state: str
    nonce: str
    verifier: str
    next_url: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(derive_key(settings, "oidc-flow"), salt="hub.oidc.flow")


def safe_next(value: str | None) -> str:
    """Only same-site absolute paths: ``//evil.example`` and ``https://...`` become ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def begin(
    settings: Settings, provider: Provider, metadata: dict[str, Any], *, next_url: str | None
) -> tuple[str, str]:
    """The authorization URL to redirect to and the signed flow cookie to set."""
    flow = Flow(
        provider=provider.name,
        state=generate_token(40),
        nonce=generate_token(40),
        verifier=generate_token(64),
        next_url=safe_next(next_url),
    )
    url = prepare_grant_uri(
        metadata["authorization_endpoint"],
        client_id=provider.client_id,
        response_type="code",
        redirect_uri=redirect_uri(settings, provider),
        scope=SCOPE,
        state=flow.state,
        nonce=flow.nonce,
        code_challenge=create_s256_code_challenge(flow.verifier),
        code_challenge_method="S256",
    )
    cookie = _serializer(settings).dumps(
        {
            "p": flow.provider,
            "s": flow.state,
            "n": flow.nonce,
            "v": flow.verifier,
            "x": flow.next_url,
        }
    )
    return url, cookie


def read_flow(settings: Settings, cookie: str | None, *, provider: str, state: str | None) -> Flow:
    if not cookie:
        raise OIDCFailed("The sign-in took too long or cookies are blocked; start again.")
    try:
        data = _serializer(settings).loads(cookie, max_age=FLOW_MAX_AGE)
        flow = Flow(
            provider=str(data["p"]),
            state=str(data["s"]),
            nonce=str(data["n"]),
            verifier=str(data["v"]),
            next_url=safe_next(str(data["x"])),
        )
    except (BadSignature, KeyError, TypeError) as exc:
        raise OIDCFailed("The sign-in session is invalid or expired; start again.") from exc
    if flow.provider != provider or not same_secret(state, flow.state):
        raise OIDCFailed("The sign-in state does not match; start again.")
    return flow


# --------------------------------------------------------------------------------------------
# Talking to the provider
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityClaims:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    preferred_username: str | None


@dataclass
class _Cached:
    value: Any
    expires: float


@dataclass
class OIDCClient:
    """Discovery and JWKS caches plus the provider calls. One per process (``ctx.oidc``).

    ``transport`` lets tests route the calls to an in-process fake provider.
    """

    transport: httpx.AsyncBaseTransport | None = None
    _metadata: dict[str, _Cached] = field(default_factory=dict)
    _jwks: dict[str, _Cached] = field(default_factory=dict)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, timeout=HTTP_TIMEOUT, follow_redirects=False
        )

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            data = jsontext.loads(response.content)  # a provider's reply: depth-limited
        except (httpx.HTTPError, ValueError) as exc:
            raise OIDCFailed(f"Could not fetch the provider's {what}.") from exc
        if not isinstance(data, dict):
            raise OIDCFailed(f"The provider's {what} is not a JSON object.")
        return data

    async def metadata(self, provider: Provider) -> dict[str, Any]:
        if provider.static_metadata is not None:
            return provider.static_metadata
        cached = self._metadata.get(provider.issuer)
        if cached is not None and cached.expires > time.monotonic():
            data: dict[str, Any] = cached.value
            return data
        data = await self._get_json(
            f"{provider.issuer}/.well-known/openid-configuration", "discovery document"
        )
        try:
            OpenIDProviderMetadata(data).validate()
        except Exception as exc:  # authlib raises ValueError and its own error types
            raise OIDCFailed(f"The provider's discovery document is invalid: {exc}") from exc
        if data.get("issuer", "").rstrip("/") != provider.issuer:
            raise OIDCFailed("The discovery document names another issuer.")
        self._metadata[provider.issuer] = _Cached(data, time.monotonic() + CACHE_SECONDS)
        return data

    async def jwks(self, provider: Provider, *, refresh: bool = False) -> KeySet:
        cached = self._jwks.get(provider.issuer)
        if not refresh and cached is not None and cached.expires > time.monotonic():
            keys: KeySet = cached.value
            return keys
        metadata = await self.metadata(provider)
        data = await self._get_json(metadata["jwks_uri"], "signing keys")
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OIDCFailed("The provider's signing keys are unreadable.") from exc
        self._jwks[provider.issuer] = _Cached(keys, time.monotonic() + CACHE_SECONDS)
        return keys

    async def exchange_code(
        self, settings: Settings, provider: Provider, *, code: str, verifier: str
    ) -> str:
        """Trade the authorization code for tokens; returns the raw ID token."""
        metadata = await self.metadata(provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(settings, provider),
            "code_verifier": verifier,
            "client_id": provider.client_id,
        }
        headers = {"accept": "application/json"}
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" in methods:
            raw = f"{provider.client_id}:{provider.client_secret}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            form["client_secret"] = provider.client_secret
        try:
            async with self._client() as client:
                response = await client.post(metadata["token_endpoint"], data=form, headers=headers)
            data = jsontext.loads(response.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise OIDCFailed("The provider's token endpoint did not answer properly.") from exc
        if response.status_code != 200 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else None
            raise OIDCFailed(f"The provider refused the code ({error or response.status_code}).")
        id_token = data.get("id_token")
        if not isinstance(id_token, str):
            raise OIDCFailed("The provider returned no ID token.")
        return id_token

    async def complete(
        self,
        settings: Settings,
        provider: Provider,
        *,
        query: dict[str, str],
        flow_cookie: str | None,
    ) -> tuple[IdentityClaims, str]:
        """The callback: check state, exchange the code, validate the ID token. Returns the
        identity and where to send the browser next."""
        if query.get("error"):
            raise OIDCFailed(f"The identity provider refused the sign-in ({query['error'][:100]}).")
        flow = read_flow(settings, flow_cookie, provider=provider.name, state=query.get("state"))
        code = query.get("code")
        if not code:
            raise OIDCFailed("The identity provider sent no authorization code.")
        id_token = await self.exchange_code(settings, provider, code=code, verifier=flow.verifier)
        claims = await self.validate_id_token(provider, id_token, nonce=flow.nonce)
        return claims, flow.next_url

    async def validate_id_token(
        self, provider: Provider, id_token: str, *, nonce: str, now: int | None = None
    ) -> IdentityClaims:
        keys = await self.jwks(provider)
        try:
            decoded = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
        except JoseError as exc:
            if not _unknown_key(exc):
                raise OIDCFailed("The ID token's signature is not valid.") from exc
            keys = await self.jwks(provider, refresh=True)
            try:
                decoded = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
            except JoseError as again:
                raise OIDCFailed("The ID token's signature is not valid.") from again
        except ValueError as exc:
            raise OIDCFailed("The ID token is malformed.") from exc
        claims = decoded.claims
        registry = JWTClaimsRegistry(
            now=now,
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "values": sorted(provider.accepted_issuers)},
            sub={"essential": True},
            aud={"essential": True, "value": provider.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OIDCFailed(f"The ID token was rejected ({exc.error}).") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise OIDCFailed("The ID token was issued to another party (azp).")
        email = claims.get("email")
        verified = claims.get("email_verified")
        # Some providers send "true" as a string; anything else is "not verified".
        return IdentityClaims(
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) and email else None,
            email_verified=verified is True or verified == "true",
            name=_str_or_none(claims.get("name")),
            preferred_username=_str_or_none(claims.get("preferred_username")),
        )


def _unknown_key(exc: JoseError) -> bool:
    return exc.error in {"missing_key", "invalid_key_id"} or "kid" in str(exc).lower()


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
