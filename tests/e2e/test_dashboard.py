"""The Workloads page in a real headless browser: the distribution's Chromium driven by
Playwright (installed by ``make test``: scripts/install_browser.sh), against a live server.

Shows: sign-in with an instance token; a session with jobs appearing in the table without a
reload; its timeline with the jobs in order and the interactive-TTL hold between them; a
job's counts histogram; cancelling a running job from its page; and that another instance's
token sees none of it. Screenshots of the three pages go to test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from qsession import RuntimeService, SamplerV2, Session
from tests.circuits import bell
from tests.conftest import OPEN_TOKEN, PREMIUM_TOKEN, base_config, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
GAP = 1.0  # seconds between the session's two jobs: the interactive-TTL hold

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
if not Path(CHROMIUM).exists():
    pytest.skip(
        "no Chromium: scripts/install_browser.sh could not install it (apt-get install chromium)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = base_config(
        tmp_path_factory.mktemp("dashboard"),
        plans={"premium": {"interactive_ttl": "5s"}},
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "slow", "profile": "ideal_24", "min_job_duration": "30s"},
        ],
        dashboard={"listen": "127.0.0.1:0"},
    )
    with start_server(config) as handle:
        handle.url = f"http://127.0.0.1:{handle.running.dashboard.port}"
        yield handle


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def sign_in(browser, server, token: str):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(server.url + "/")
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#workloads-table")
    return page


def spans(page, selector: str) -> list[tuple[float, float]]:
    return page.eval_on_selector_all(
        selector,
        "nodes => nodes.map(n => [Number(n.dataset.start), Number(n.dataset.end)])",
    )


def test_sign_in_refuses_a_wrong_token_and_keeps_the_token_out_of_urls(browser, server):
    page = browser.new_context().new_page()
    page.goto(server.url + "/")
    page.fill("#token", "not-a-token")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-in-error:has-text('unknown token')")
    request = urllib.request.Request(server.url + "/api/workloads")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    page.fill("#token", PREMIUM_TOKEN)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#workloads-table")
    cookie = next(c for c in page.context.cookies() if c["name"] == "qsession_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert PREMIUM_TOKEN not in cookie["value"] and PREMIUM_TOKEN not in page.url


def test_the_pages_follow_a_session_live_and_show_only_the_instance_work(browser, server):
    ARTIFACTS.mkdir(exist_ok=True)
    page = sign_in(browser, server, PREMIUM_TOKEN)
    page.evaluate("window.notReloaded = true")

    service = RuntimeService(url=server.address, token=server.token)
    backend = service.backend("ideal_24")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        first = sampler.run([bell()], shots=200)
        first.result()
        time.sleep(GAP)
        second = sampler.run([bell()], shots=200)
        second.result()
    alone = SamplerV2(mode=backend)
    alone.options.environment.job_tags = ["solo"]
    alone.run([bell()], shots=100).result()

    # The table shows the session without a reload: the event stream told the page.
    row = page.wait_for_selector(f'#workloads-table tr[data-id="{session.session_id}"]')
    assert row.get_attribute("data-mode") == "session"
    page.wait_for_selector('#workloads-table tr[data-mode="job"]')
    assert page.evaluate("window.notReloaded") is True
    page.select_option("select[name=mode]", "session")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#workloads-table tbody tr[data-mode]')]"
        ".every(r => r.dataset.mode === 'session')"
    )
    page.select_option("select[name=mode]", "")
    page.wait_for_selector('#workloads-table tr[data-mode="job"]')
    page.screenshot(path=ARTIFACTS / "workloads.png")

    # The session's page: jobs in order on the timeline, the ITTL hold between them.
    page.click(f'#workloads-table tr[data-id="{session.session_id}"] a')
    page.wait_for_selector("#timeline rect.job-running")
    bars = page.eval_on_selector_all(
        "#timeline rect.job-running",
        "nodes => nodes.map(n => [n.dataset.job, Number(n.dataset.start),"
        " Number(n.dataset.end), Number(n.getAttribute('x'))])",
    )
    assert [job_id for job_id, *_ in bars] == [first.job_id(), second.job_id()]
    (_, _, first_end, first_x), (_, second_start, _, second_x) = bars
    assert first_end <= second_start and first_x < second_x
    holds = spans(page, "#timeline rect.hold")
    between = [h for h in holds if h[0] >= first_end - 1e-3 and h[1] <= second_start + 1e-3]
    assert between and between[0][1] - between[0][0] >= GAP * 0.8, holds
    assert page.inner_text('#session-details dd[data-key="interactive_timeout"]') == "5"
    page.screenshot(path=ARTIFACTS / "session.png", full_page=True)

    # A job's page: the counts histogram of its register.
    page.click(f'#session-jobs a[href="#/jobs/{first.job_id()}"]')
    page.wait_for_selector('svg.histogram[data-register="meas"] rect.bar')
    counts = page.eval_on_selector_all(
        "svg.histogram rect.bar", "bars => bars.map(b => [b.dataset.bits, Number(b.dataset.count)])"
    )
    assert dict(counts) == first.result()[0].data.meas.get_counts()
    page.screenshot(path=ARTIFACTS / "job.png", full_page=True)

    # Cancel from the page: a job that runs for 30 s ends CANCELLED, shown live.
    slow = SamplerV2(mode=service.backend("slow")).run([bell()], shots=10)
    page.goto(f"{server.url}/#/jobs/{slow.job_id()}")
    page.wait_for_selector('#job-status [data-status="RUNNING"]', timeout=30_000)
    page.click("#cancel-job")
    page.wait_for_selector('#job-status [data-status="CANCELLED"]', timeout=30_000)
    assert slow.status() == "CANCELLED"

    # Another instance sees none of it: not in its table, not by id, not on its backends page.
    other = sign_in(browser, server, OPEN_TOKEN)
    other.wait_for_selector("#workloads-table tbody tr")
    shown = other.eval_on_selector_all(
        "#workloads-table tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)"
    )
    assert shown == []
    for path in (f"sessions/{session.session_id}", f"jobs/{first.job_id()}"):
        other.goto(f"{server.url}/#/{path}")
        other.wait_for_selector("#view-error")
        answer = other.evaluate("async p => (await fetch('/api/' + p)).status", path)
        assert answer == 404
    cancel = other.evaluate(
        """async id => (await fetch('/api/jobs/' + id + '/cancel',
            {method: 'POST', headers: {'X-Qsession': '1'}})).status""",
        first.job_id(),
    )
    assert cancel == 404
    other.goto(f"{server.url}/#/backends")
    other.wait_for_selector("#backends-table tbody tr")
    assert session.session_id not in other.content()
    api = json.loads(other.evaluate("async () => await (await fetch('/api/backends')).text()"))
    assert {b["name"] for b in api} == {"ideal_24", "slow"}
