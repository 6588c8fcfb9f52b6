"""IBM Cloud IAM on qsession: API keys are instance tokens, access tokens are signed JWTs.

IBM's client exchanges its API key at ``POST /identity/token`` (form ``grant_type=
urn:ibm:params:oauth:grant-type:apikey&apikey=...``) for an access token it sends as
``Authorization: Bearer`` on every call, with the instance's CRN as ``Service-CRN``. The
client reads the token's ``exp`` and ``iat`` claims (it refreshes at 80 % of its life) but
does not check its signature; the server does: every token is an HS256 JWT signed with a key
kept in the data directory (so tokens survive a restart), and a call whose token is forged,
expired, or names another instance than its ``Service-CRN`` is refused as a wrong gRPC token
is. PyJWT does the signing and checking.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

LIFETIME = 3600  # seconds an access token is valid, as IBM's
ALGORITHM = "HS256"
KEY_FILE = "ibm_api_signing_key"


@dataclass(frozen=True)
class Claims:
    """What a valid access token says: the instance it was issued to, and its CRN."""

    instance: str
    crn: str


class Tokens:
    """Issues and checks access tokens.

    Args:
        key: the signing key (see ``load_key``).
        clock: unix seconds.
    """

    def __init__(self, key: bytes, clock=time.time):
        self._key = key
        self._clock = clock

    def issue(self, instance: str, crn: str) -> dict:
        """IBM IAM's answer to a token request: the access token and its expiry."""
        now = int(self._clock())
        claims = {"sub": instance, "crn": crn, "iat": now, "exp": now + LIFETIME}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return {
            "access_token": token,
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": LIFETIME,
            "expiration": now + LIFETIME,
            "scope": "ibm openid",
        }

    def check(self, token: str) -> Claims | None:
        """The claims of a valid, unexpired token this server issued; None otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "crn"]},
                leeway=0,
            )
        except jwt.PyJWTError:
            return None
        return Claims(instance=claims["sub"], crn=claims["crn"])


def load_key(data_dir: Path) -> bytes:
    """The signing key kept in ``data_dir`` (made on first use, readable by its owner only)."""
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key
