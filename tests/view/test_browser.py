"""The page in headless Chromium: it loads offline without errors, shows every step with
the status the state database recorded, and clicking a step opens its details.

Screenshots go to test-artifacts/. Chromium is the Debian package (`make browser`); its
absence fails these tests rather than skipping them, so CI cannot silently lose them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from view_helpers import ARTIFACTS, Runs

from pipelines.local.runner import open_engine
from pipelines.view.html import render_page
from pipelines.view.model import collect_definition, collect_execution
from pipelines.view.server import ViewServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A page that records console errors, page errors and failed requests."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 950})
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )

    def nodes(self) -> dict[str, dict[str, str]]:
        return self.page.eval_on_selector_all(
            "g.node",
            """nodes => Object.fromEntries(nodes.map(n => [n.dataset.step, {
                status: n.dataset.status, cacheHit: n.dataset.cacheHit,
                cls: n.getAttribute('class')}]))""",
        )

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def write_page(document: dict, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text(render_page(document), encoding="utf-8")
    return path.as_uri()


def recorded(runs: Runs, execution_id: str) -> dict[str, str]:
    steps = open_engine(runs.config).state.list_steps(execution_id)
    return {s["step_name"]: s["status"] for s in steps}


def open_execution(browser, runs: Runs, execution_id: str, tmp_path: Path) -> Page:
    page = Page(browser)
    document = collect_execution(runs.config, execution_id)
    page.page.goto(write_page(document, tmp_path, f"{execution_id}.html"))
    nodes = page.nodes()
    # Every step of the definition is a node, with the status the state DB holds.
    assert set(nodes) == {n["name"] for n in document["layout"]["nodes"]}
    assert len(nodes) == 10
    expected = recorded(runs, execution_id)
    assert {name: node["status"] for name, node in nodes.items()} == {
        name: expected.get(name, "NotStarted") for name in nodes
    }
    return page


def test_succeeded_run(browser, runs: Runs, tmp_path: Path) -> None:
    page = open_execution(browser, runs, runs.succeeded, tmp_path)
    nodes = page.nodes()
    assert "succeeded" in nodes["Train"]["cls"] and nodes["Train"]["cacheHit"] == "false"
    assert "notexecuted" in nodes["MetricBelowThreshold"]["cls"]
    assert page.page.locator("#execution-status").inner_text() == "Succeeded"
    # CheckMetric -> FindRegisteredModel, CheckMetric -> CheckChampion, CheckChampion -> Register
    assert page.page.locator(".edge-label").all_text_contents().count("if (true)") == 3
    assert page.page.locator(".edge-label").all_text_contents().count("else (false)") == 1

    page.page.click("#node-Train")
    details = page.page.locator("#details")
    assert details.get_attribute("data-step") == "Train"
    train = next(
        s
        for s in open_engine(runs.config).state.list_steps(runs.succeeded)
        if s["step_name"] == "Train"
    )
    stdout = next(Path(p) for p in train["logs"] if p.endswith("stdout.log"))
    last_line = stdout.read_text().splitlines()[-1]
    logs = details.locator("pre.log").all_inner_texts()
    assert any(last_line in text for text in logs)
    assert "ml.m5.xlarge" in details.inner_text()
    assert "Registered model" in page.page.locator("#section-registered-model").inner_text()
    snapshot = page.page.locator("#section-data-snapshot").inner_text()
    assert "transactions.csv" in snapshot and "manifest.json" in snapshot
    assert "average_precision (compared)" in page.page.locator("#section-evaluation").inner_text()
    assert "Total $" in page.page.locator("#cost-total").inner_text()
    page.screenshot("view-succeeded.png")
    assert page.problems == []


def test_failed_run_shows_the_fail_step_and_its_message(
    browser, runs: Runs, tmp_path: Path
) -> None:
    page = open_execution(browser, runs, runs.failed, tmp_path)
    nodes = page.nodes()
    assert "failed" in nodes["MetricBelowThreshold"]["cls"]
    assert (
        "notexecuted" in nodes["RegisterModel"]["cls"]
        or "notstarted" in nodes["RegisterModel"]["cls"]
    )
    reason = page.page.locator("#execution-failure").inner_text()
    assert "below the threshold" in reason
    page.page.click("#node-Evaluate")  # elsewhere first: the failed step is preselected
    page.page.click("#node-MetricBelowThreshold")
    details = page.page.locator("#details")
    assert details.get_attribute("data-step") == "MetricBelowThreshold"
    assert "below the threshold 0.9900" in details.locator("pre.failure-reason").inner_text()
    page.screenshot("view-failed.png")
    assert page.problems == []


def test_cached_rerun_marks_cache_hits(browser, runs: Runs, tmp_path: Path) -> None:
    page = open_execution(browser, runs, runs.cached, tmp_path)
    nodes = page.nodes()
    for name in ("Preprocess", "Train", "Evaluate"):
        assert nodes[name]["cacheHit"] == "true" and "cached" in nodes[name]["cls"], name
    assert "cache hit" in page.page.locator("#node-Train").text_content()
    page.page.click("#node-Train")
    assert f"execution {runs.succeeded}" in page.page.locator("#details").inner_text()
    assert "saved" in page.page.locator("#cost-total").inner_text()
    page.screenshot("view-cached.png")
    assert page.problems == []


def test_definition_only_page(browser, runs: Runs, tmp_path: Path) -> None:
    page = Page(browser)
    document = collect_definition(runs.config)
    page.page.goto(write_page(document, tmp_path, "definition.html"))
    nodes = page.nodes()
    assert set(nodes) == {n["name"] for n in document["layout"]["nodes"]} and len(nodes) == 10
    assert all("definition" in node["cls"] for node in nodes.values())
    page.page.click("#node-CheckMetric")
    assert "from the definition" in page.page.locator("#details").inner_text()
    page.screenshot("view-definition.png")
    assert page.problems == []


def test_served_pages(browser, runs: Runs, server: ViewServer) -> None:
    page = Page(browser)
    page.page.goto(server.url)
    page.page.click(f'a[href="/executions/{runs.failed}.html"]')
    page.page.wait_for_selector("#node-MetricBelowThreshold")
    assert page.nodes()["MetricBelowThreshold"]["status"] == "Failed"
    page.page.click("text=all executions")
    page.page.click("#definition-link")
    page.page.wait_for_selector("#node-RegisterModel")
    assert len(page.nodes()) == 10
    assert page.problems == []
