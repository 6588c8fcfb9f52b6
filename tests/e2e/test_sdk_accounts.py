"""Account lookup: arguments, then QSESSION_URL/QSESSION_TOKEN, then the saved account, then
the dev account `make serve` writes; and save_account behaves like qiskit-ibm-runtime's."""

from __future__ import annotations

import json
import stat

import pytest

from qsession import IBMAccountError, IBMNotAuthorizedError, RuntimeService
from qsession.client.errors import AccountAlreadyExistsError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """An empty QSESSION_HOME and no account variables, so nothing leaks from the machine."""
    monkeypatch.setenv("QSESSION_HOME", str(tmp_path))
    monkeypatch.delenv("QSESSION_URL", raising=False)
    monkeypatch.delenv("QSESSION_TOKEN", raising=False)
    return tmp_path


def write_dev_account(home, url: str, token: str) -> None:
    (home / "dev-account.json").write_text(json.dumps({"url": url, "token": token}))


def test_explicit_arguments_win_over_environment_and_files(home, monkeypatch):
    monkeypatch.setenv("QSESSION_URL", "env:1")
    monkeypatch.setenv("QSESSION_TOKEN", "env-token")
    RuntimeService.save_account(url="saved:1", token="saved-token", set_as_default=True)
    write_dev_account(home, "dev:1", "dev-token")
    account = RuntimeService(url="arg:1", token="arg-token").active_account()
    assert (account["url"], account["token"]) == ("arg:1", "arg-token")


def test_environment_wins_over_the_saved_and_dev_accounts(home, monkeypatch):
    monkeypatch.setenv("QSESSION_URL", "env:1")
    monkeypatch.setenv("QSESSION_TOKEN", "env-token")
    RuntimeService.save_account(url="saved:1", token="saved-token", set_as_default=True)
    write_dev_account(home, "dev:1", "dev-token")
    account = RuntimeService().active_account()
    assert (account["url"], account["token"]) == ("env:1", "env-token")


def test_an_argument_overrides_one_field_of_the_environment(monkeypatch):
    monkeypatch.setenv("QSESSION_URL", "env:1")
    monkeypatch.setenv("QSESSION_TOKEN", "env-token")
    account = RuntimeService(token="arg-token").active_account()
    assert (account["url"], account["token"]) == ("env:1", "arg-token")


def test_the_saved_default_account_wins_over_the_dev_account(home):
    RuntimeService.save_account(url="saved:1", token="saved-token")
    write_dev_account(home, "dev:1", "dev-token")
    assert RuntimeService().active_account()["url"] == "saved:1"


def test_a_named_saved_account_is_used_when_asked_for(home):
    RuntimeService.save_account(url="saved:1", token="saved-token")
    RuntimeService.save_account(url="lab:1", token="lab-token", name="lab")
    assert RuntimeService(name="lab").active_account()["token"] == "lab-token"
    assert RuntimeService().active_account()["token"] == "saved-token"


def test_set_as_default_makes_a_named_account_the_default(home):
    RuntimeService.save_account(url="saved:1", token="saved-token")
    RuntimeService.save_account(url="lab:1", token="lab-token", name="lab", set_as_default=True)
    assert RuntimeService().active_account()["url"] == "lab:1"
    assert list(RuntimeService.saved_accounts(default=True)) == ["lab"]


def test_the_dev_account_is_the_last_resort_and_reaches_the_local_server(home, server):
    write_dev_account(home, server.address, server.token)
    service = RuntimeService()
    assert service.active_account()["url"] == server.address
    assert {b.name for b in service.backends()} == {"ideal_24", "fake_torino"}


def test_no_account_anywhere_raises_a_clear_error():
    with pytest.raises(IBMAccountError, match="make serve"):
        RuntimeService()


def test_an_unknown_account_name_raises(home):
    RuntimeService.save_account(url="saved:1", token="saved-token")
    with pytest.raises(IBMAccountError, match="nope"):
        RuntimeService(name="nope")


def test_save_account_refuses_to_replace_an_account_without_overwrite(home):
    RuntimeService.save_account(url="saved:1", token="first")
    with pytest.raises(AccountAlreadyExistsError):
        RuntimeService.save_account(url="saved:1", token="second")
    RuntimeService.save_account(url="saved:1", token="second", overwrite=True)
    assert RuntimeService.saved_accounts()["default"]["token"] == "second"


def test_saved_accounts_are_readable_only_by_their_owner(home):
    RuntimeService.save_account(url="saved:1", token="secret")
    mode = stat.S_IMODE((home / "accounts.json").stat().st_mode)
    assert mode == 0o600


def test_delete_account_removes_it(home):
    RuntimeService.save_account(url="saved:1", token="secret", name="lab")
    assert RuntimeService.delete_account(name="lab") is True
    assert RuntimeService.delete_account(name="lab") is False
    assert RuntimeService.saved_accounts() == {}


def test_an_unknown_token_is_not_authorized(server):
    service = RuntimeService(url=server.address, token="not-a-token")
    with pytest.raises(IBMNotAuthorizedError):
        service.backends()
