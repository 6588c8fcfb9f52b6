"""The local dev account of `make serve`: a premium instance whose token only the SDK keeps.

The server's data directory holds the SHA-256 of the token (``dev-token.sha256``), never the
token; the token itself lives only in the SDK's dev account file (``dev_account_path()``), as a
user's credentials would. When that file is missing or holds another token, a new token is made.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from qsession.server.auth import token_hash

log = logging.getLogger("qsession.server")

HASH_FILE = "dev-token.sha256"
LEGACY_TOKEN_FILE = "dev-token"


def dev_account_path() -> Path:
    """Where `qsession serve` with the default config saves the local account for the SDK."""
    return Path(os.environ.get("QSESSION_HOME", Path.home() / ".qsession")) / "dev-account.json"


def dev_token(data_dir: Path) -> tuple[str, str]:
    """The dev instance's (token, token hash): the saved account's token if the data directory
    knows its hash, else a new token whose hash is written there.

    The caller saves the token with ``save_dev_account`` once it knows the port.
    """
    hash_path = data_dir / HASH_FILE
    known = hash_path.read_text().strip() if hash_path.exists() else None
    legacy = data_dir / LEGACY_TOKEN_FILE
    if legacy.exists():  # older servers kept the token itself: keep only its hash
        if known is None:
            known = token_hash(legacy.read_text().strip())
            _write_private(hash_path, known)
        legacy.unlink()
    saved = _saved_token()
    if saved is not None and token_hash(saved) == known:
        return saved, known
    token = f"qs-{secrets.token_urlsafe(24)}"
    digest = token_hash(token)
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(hash_path, digest)
    return token, digest


def save_dev_account(url: str, token: str) -> None:
    """Save the account that ``RuntimeService()`` with no arguments finds."""
    path = dev_account_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps({"url": url, "token": token}))
    log.info("saved the local account for RuntimeService() to %s", path)


def _saved_token() -> str | None:
    try:
        token = json.loads(dev_account_path().read_text()).get("token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created 0600, then filled)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
