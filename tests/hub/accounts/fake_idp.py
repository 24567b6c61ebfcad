"""A small OpenID Connect provider for tests: discovery, JWKS, authorize and token endpoints.

It behaves like a strict real provider: it checks the client id, redirect URI, PKCE (S256) and
client secret, hands out one-time codes, and signs ID tokens with an RSA key. Tests change what
the next ID token says (``claims``), how it is altered (``tamper``) or which key signs it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

ISSUER = "https://idp.test"
CLIENT_ID = "hub-client"
CLIENT_SECRET = "hub-client-secret"


@lru_cache(maxsize=4)
def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class FakeIdP:
    issuer: str = ISSUER
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    key: RSAKey = field(default_factory=lambda: rsa_key("k1"))
    # What the next ID token says about the user.
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "idp-user-1",
            "email": "alice@example.com",
            "email_verified": True,
            "name": "Alice Liddell",
            "preferred_username": "alice",
        }
    )
    tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    sign_with: RSAKey | None = None
    algorithm: str = "RS256"
    metadata_overrides: dict[str, Any] = field(default_factory=dict)
    jwks_body: Any = None
    omit_id_token: bool = False
    # A hostile provider: this endpoint ("discovery", "jwks" or "token") answers with JSON nested
    # 100,000 levels deep (plain json.loads raises RecursionError on it).
    deep_json: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    jwks_hits: int = 0
    discovery_hits: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    def _deep(self, endpoint: str) -> Response | None:
        if self.deep_json != endpoint:
            return None
        return Response("[" * 100_000 + "]" * 100_000, media_type="application/json")

    async def discovery(self, request: Request) -> Response:
        self.discovery_hits += 1
        if deep := self._deep("discovery"):
            return deep
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                **self.metadata_overrides,
            }
        )

    async def jwks(self, request: Request) -> Response:
        self.jwks_hits += 1
        if deep := self._deep("jwks"):
            return deep
        if self.jwks_body is not None:
            return JSONResponse(self.jwks_body)
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        problems = [
            q.get("response_type") != "code",
            q.get("client_id") != self.client_id,
            q.get("code_challenge_method") != "S256",
            not q.get("code_challenge"),
            not q.get("state"),
            not q.get("nonce"),
            "openid" not in (q.get("scope") or "").split(),
        ]
        if any(problems) or not (q.get("redirect_uri") or "").startswith("http"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": q["nonce"],
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
        }
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        if deep := self._deep("token"):
            return deep
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **self.claims,
        }
        if self.tamper is not None:
            claims = self.tamper(claims)
        key = self.sign_with or self.key
        header = {"alg": self.algorithm, "kid": key.kid}
        id_token = jwt.encode(header, claims, key, algorithms=[self.algorithm])
        body = {"access_token": "idp-access", "token_type": "Bearer", "id_token": id_token}
        if self.omit_id_token:
            del body["id_token"]
        return JSONResponse(body)
