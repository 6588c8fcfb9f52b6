"""Where the SDK finds its server and token: arguments, environment, saved accounts, dev account.

Saved accounts live in ``$QSESSION_HOME/accounts.json`` (default ``~/.qsession/accounts.json``),
a JSON object mapping account names to ``{"url", "token", "is_default_account"?}`` like
qiskit-ibm-runtime's ``~/.qiskit/qiskit-ibm.json``. ``make serve`` with the default
configuration writes the local server's account to ``$QSESSION_HOME/dev-account.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qsession.client.errors import AccountAlreadyExistsError, IBMAccountError

URL_ENV = "QSESSION_URL"
TOKEN_ENV = "QSESSION_TOKEN"
HOME_ENV = "QSESSION_HOME"
DEFAULT_ACCOUNT_NAME = "default"


@dataclass(frozen=True)
class Account:
    """A server address and the token that authenticates an instance on it.

    Attributes:
        url: ``host:port`` (plaintext), or ``https://host:port`` / ``grpcs://host:port`` (TLS).
        token: The instance's bearer token.
        source: Where the account came from, e.g. ``"arguments"`` or ``"saved account 'lab'"``.
    """

    url: str
    token: str
    source: str


def qsession_home() -> Path:
    """``$QSESSION_HOME``, or ``~/.qsession``: the directory of accounts and the dev account."""
    return Path(os.environ.get(HOME_ENV, Path.home() / ".qsession"))


def accounts_path(filename: str | os.PathLike | None = None) -> Path:
    """The saved accounts file: ``filename`` if given, else ``qsession_home()/accounts.json``."""
    return Path(filename) if filename is not None else qsession_home() / "accounts.json"


def dev_account_path() -> Path:
    """The account file ``make serve`` writes for the local server (same rule as the server)."""
    return qsession_home() / "dev-account.json"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise IBMAccountError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise IBMAccountError(f"{path} must hold a JSON object")
    return data


def read_accounts(filename: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The saved accounts by name (empty when the file does not exist).

    Raises:
        IBMAccountError: the file exists but is not a JSON object of accounts.
    """
    path = accounts_path(filename)
    accounts = _read_json(path)
    for name, entry in accounts.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise IBMAccountError(f"{path}: account {name!r} needs a string 'url'")
    return accounts


def _write_accounts(
    accounts: dict[str, dict[str, Any]], filename: str | os.PathLike | None
) -> None:
    path = accounts_path(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(accounts, indent=2, sort_keys=True) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def save_account(
    url: str,
    token: str,
    name: str | None = None,
    overwrite: bool = False,
    set_as_default: bool | None = None,
    filename: str | os.PathLike | None = None,
) -> None:
    """Save an account to the accounts file (mode 0600).

    Raises:
        AccountAlreadyExistsError: ``name`` is saved already and ``overwrite`` is false.
        IBMAccountError: empty url or token, or an unreadable accounts file.
    """
    if not url or not token:
        raise IBMAccountError("save_account needs both url and token")
    name = name or DEFAULT_ACCOUNT_NAME
    accounts = read_accounts(filename)
    if name in accounts and not overwrite:
        raise AccountAlreadyExistsError(
            f"an account named {name!r} is saved already in {accounts_path(filename)}; "
            "pass overwrite=True to replace it"
        )
    entry: dict[str, Any] = {"url": url, "token": token}
    if set_as_default:
        for other in accounts.values():
            other.pop("is_default_account", None)
        entry["is_default_account"] = True
    accounts[name] = entry
    _write_accounts(accounts, filename)


def delete_account(name: str | None = None, filename: str | os.PathLike | None = None) -> bool:
    """Delete a saved account (default name ``"default"``); False when there was none."""
    name = name or DEFAULT_ACCOUNT_NAME
    accounts = read_accounts(filename)
    if accounts.pop(name, None) is None:
        return False
    _write_accounts(accounts, filename)
    return True


def default_account_name(accounts: dict[str, dict[str, Any]]) -> str | None:
    """The default among ``accounts``: the one flagged ``is_default_account``, else "default"."""
    flagged = [name for name, entry in accounts.items() if entry.get("is_default_account")]
    if flagged:
        return flagged[0]
    return DEFAULT_ACCOUNT_NAME if DEFAULT_ACCOUNT_NAME in accounts else None


def resolve_account(
    url: str | None = None,
    token: str | None = None,
    name: str | None = None,
    filename: str | os.PathLike | None = None,
) -> Account:
    """The account to use, looked up in this order:

    1. ``url`` and ``token`` given as arguments;
    2. ``$QSESSION_URL`` / ``$QSESSION_TOKEN``;
    3. the saved account ``name``, or else the saved default account;
    4. the local server's dev account written by ``make serve``.

    An argument overrides the same field of the first source that provides an account, so
    ``RuntimeService(token=...)`` with ``$QSESSION_URL`` set uses both.

    Raises:
        IBMAccountError: ``name`` is not saved, or no source provides both a URL and a token.
    """
    base: tuple[str | None, str | None, str] | None = None
    if name is not None:
        accounts = read_accounts(filename)
        if name not in accounts:
            raise IBMAccountError(
                f"no saved account named {name!r} in {accounts_path(filename)}; "
                f"saved: {sorted(accounts)}"
            )
        base = (accounts[name]["url"], accounts[name].get("token"), f"saved account {name!r}")
    elif url is not None and token is not None:
        return Account(url=url, token=token, source="arguments")
    elif os.environ.get(URL_ENV) or os.environ.get(TOKEN_ENV):
        base = (os.environ.get(URL_ENV), os.environ.get(TOKEN_ENV), "environment")
    else:
        accounts = read_accounts(filename)
        default = default_account_name(accounts)
        if default is not None:
            entry = accounts[default]
            base = (entry["url"], entry.get("token"), f"saved account {default!r}")
        else:
            dev = _read_json(dev_account_path())
            if dev:
                base = (dev.get("url"), dev.get("token"), f"dev account {dev_account_path()}")
    found_url, found_token, source = base or (None, None, "nowhere")
    final_url, final_token = url or found_url, token or found_token
    if not final_url or not final_token:
        missing = " and ".join(
            field for field, value in (("url", final_url), ("token", final_token)) if not value
        )
        raise IBMAccountError(
            f"no {missing} for the qsession server (looked in {source}): pass url= and token=, "
            f"set {URL_ENV} and {TOKEN_ENV}, save an account with RuntimeService.save_account(), "
            "or start a local server with `make serve`"
        )
    if url is not None or token is not None:
        source = f"arguments over {source}"
    return Account(url=final_url, token=final_token, source=source)
