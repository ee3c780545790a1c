"""The pages in headless Chromium, at a desktop's 1440x900 and a phone's 390x844: every page
loads without console errors or failed requests, never scrolls sideways, shows every step
with the status the state database recorded, keeps the graph's nodes inside the window and
clickable, and works: zoom, pan, pinch, find, data edges, details, filters, comparison, and
a running execution's page updating in place.

One browser and one server for the module; the pages read the shared runs (tests/view's
conftest). Screenshots of each page at both sizes go to test-artifacts/. Chromium is the
Debian package (`make browser`); its absence fails these tests rather than skipping them,
so CI cannot silently lose them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from view_helpers import ARTIFACTS, Runs
from waiting import FAILSAFE_SECONDS

from pipelines.app.runner import execute, open_engine
from pipelines.view.model import collect_definition
from pipelines.view.render import render_page
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
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
WAIT_MS = FAILSAFE_SECONDS * 1000


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served(runs: Runs) -> Iterator[ViewServer]:
    server = ViewServer(runs.config, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(FAILSAFE_SECONDS)


class Page:
    """A page at one size that records console errors, page errors and failed requests."""

    def __init__(self, browser, size: str) -> None:
        width, height = SIZES[size]
        self.size = size
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.page.set_default_timeout(WAIT_MS)
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

    def open(self, url: str) -> None:
        self.page.goto(url)
        # Every page declares the viewport, and none scrolls sideways.
        assert self.page.locator('meta[name="viewport"]').count() == 1, url
        assert self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{url} scrolls sideways at {self.size}"
        )

    def nodes(self) -> dict[str, dict[str, str]]:
        return self.page.eval_on_selector_all(
            "g.node",
            """nodes => Object.fromEntries(nodes.map(n => [n.dataset.step, {
                status: n.dataset.status, cacheHit: n.dataset.cacheHit,
                cls: n.getAttribute('class')}]))""",
        )

    def graph_fits(self) -> None:
        """With the graph scrolled into view, every node lies inside its panel and the
        window, and is visible."""
        self.page.locator(".graph-viewport").scroll_into_view_if_needed()
        outside = self.page.evaluate(
            """() => {
                const panel = document.querySelector('.graph-viewport').getBoundingClientRect();
                return [...document.querySelectorAll('g.node')].filter(node => {
                    const box = node.getBoundingClientRect();
                    return box.width < 8 || box.left < Math.max(0, panel.left) - 1
                        || box.top < Math.max(0, panel.top) - 1
                        || box.right > Math.min(window.innerWidth, panel.right) + 1
                        || box.bottom > Math.min(window.innerHeight, panel.bottom) + 1;
                }).map(node => node.dataset.step);
            }"""
        )
        assert outside == [], f"nodes outside the window at {self.size}: {outside}"

    def view_box(self) -> list[float]:
        return [float(v) for v in self.page.get_attribute("#dag", "viewBox").split()]

    def screenshot(self, name: str, window: bool = False) -> None:
        """The whole page; with `window`, also what the window shows (the README's)."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-{self.size}.png"), full_page=True)
        if window:
            self.page.screenshot(path=str(ARTIFACTS / f"{name}-{self.size}-window.png"))

    def close(self) -> None:
        assert self.problems == []
        self.page.close()


def recorded(runs: Runs, execution_id: str) -> dict[str, str]:
    steps = open_engine(runs.config).state.list_steps(execution_id)
    return {s.name: s.status for s in steps}


def open_execution(page: Page, served: ViewServer, runs: Runs, execution_id: str) -> None:
    page.open(f"{served.url}executions/{execution_id}.html")
    nodes = page.nodes()
    # Every step of the definition is a node, with the status the state DB holds.
    assert len(nodes) == 13
    expected = recorded(runs, execution_id)
    assert {name: node["status"] for name, node in nodes.items()} == {
        name: expected.get(name, "NotStarted") for name in nodes
    }
    page.graph_fits()


@pytest.mark.parametrize("size", SIZES)
def test_every_page_at_both_sizes(browser, runs: Runs, served: ViewServer, size: str) -> None:
    page = Page(browser, size)

    open_execution(page, served, runs, runs.succeeded)
    nodes = page.nodes()
    assert "succeeded" in nodes["Train"]["cls"] and nodes["Train"]["cacheHit"] == "false"
    assert "notexecuted" in nodes["MetricBelowThreshold"]["cls"]
    assert page.page.locator("#execution-status").inner_text() == "Succeeded"
    labels = page.page.locator(".edge-label").all_text_contents()
    # CheckMetric -> FindRegisteredModel, CheckMetric -> CheckChampion, CheckChampion -> Register
    # CheckDrift's four branch steps, CheckMetric's two, CheckChampion's one.
    assert labels.count("if (true)") == 7 and labels.count("else (false)") == 1
    # The outcome, then the charts of the evaluation.
    assert page.page.locator(".outcome").inner_text().startswith("Registered: ")
    for chart in ("#chart-roc", "#chart-pr", "#confusion-challenger"):
        assert page.page.locator(chart).is_visible(), chart
    # A node is clickable where it is drawn (a real click at its centre, not a script).
    page.page.click("#node-Train")
    details = page.page.locator("#details")
    assert details.get_attribute("data-step") == "Train"
    train = next(
        s for s in open_engine(runs.config).state.list_steps(runs.succeeded) if s.name == "Train"
    )
    stdout = next(Path(p) for p in train.logs if p.endswith("stdout.log"))
    last_line = stdout.read_text().splitlines()[-1]
    assert any(last_line in text for text in details.locator("pre.log").all_inner_texts())
    assert "ml.m5.xlarge" in details.inner_text()
    snapshot = page.page.locator("#section-data-snapshot").inner_text()
    assert "transactions.csv" in snapshot and "manifest.json" in snapshot
    assert "Total $" in page.page.locator("#cost-total").inner_text()
    page.page.evaluate("window.scrollTo(0, 0)")
    page.screenshot("execution-succeeded", window=True)

    open_execution(page, served, runs, runs.failed)
    nodes = page.nodes()
    assert "failed" in nodes["MetricBelowThreshold"]["cls"]
    outcome = page.page.locator("#execution-failure").inner_text()
    assert "did not pass the quality gate" in outcome and "below the threshold 0.99" in outcome
    # The failed step is preselected; another step, then back.
    assert page.page.locator("#details").get_attribute("data-step") == "MetricBelowThreshold"
    page.page.click("#node-Evaluate")
    page.page.click("#node-MetricBelowThreshold")
    reason = page.page.locator("#step-MetricBelowThreshold pre.failure-reason")
    assert "below the threshold 0.9900" in reason.inner_text()
    # A long reason wraps at word boundaries, inside the panel.
    assert reason.evaluate("e => getComputedStyle(e).overflowWrap") == "break-word"
    assert reason.evaluate("e => e.scrollWidth <= e.clientWidth")
    page.page.evaluate("window.scrollTo(0, 0)")
    page.screenshot("execution-failed", window=True)

    open_execution(page, served, runs, runs.cached)
    nodes = page.nodes()
    for name in ("Preprocess", "Train", "Evaluate"):
        assert nodes[name]["cacheHit"] == "true" and "cached" in nodes[name]["cls"], name
    outcome = page.page.locator(".outcome").inner_text()
    assert "held it back" in outcome and "already version" in outcome and "s3://" not in outcome
    page.page.click("#node-Train")
    assert f"execution {runs.succeeded}" in page.page.locator("#details").inner_text()
    assert "saved" in page.page.locator("#cost-total").inner_text()
    page.screenshot("execution-cached")

    page.open(f"{served.url}definition.html")
    nodes = page.nodes()
    assert len(nodes) == 13 and all("definition" in node["cls"] for node in nodes.values())
    page.graph_fits()
    page.page.click("#node-CheckMetric")
    assert "from the definition" in page.page.locator("#step-CheckMetric").inner_text()
    page.screenshot("definition")

    page.open(served.url)
    assert page.page.locator("#chart-trend circle.point").count() >= 3
    page.screenshot("index")

    page.open(f"{served.url}compare.html?executions={runs.succeeded},{runs.failed}")
    page.screenshot("compare")
    page.close()


def test_graph_zooms_pans_pinches_finds_and_shows_data_edges(
    browser, runs: Runs, served: ViewServer
) -> None:
    page = Page(browser, "desktop")
    page.open(f"{served.url}executions/{runs.succeeded}.html")
    fit = page.view_box()
    page.page.click("#zoom-in")
    zoomed = page.view_box()
    assert zoomed[2] == pytest.approx(fit[2] / 1.25, rel=1e-3)
    # Dragging the background pans: the view moves against the pointer.
    page.page.locator(".graph-viewport").scroll_into_view_if_needed()
    box = page.page.locator(".graph-viewport").bounding_box()
    x, y = box["x"] + 12, box["y"] + 12  # the corner: background, not a node
    page.page.mouse.move(x, y)
    page.page.mouse.down()
    page.page.mouse.move(x + 80, y - 40, steps=4)
    page.page.mouse.up()
    panned = page.view_box()
    assert panned[0] < zoomed[0] and panned[1] > zoomed[1] and panned[2] == zoomed[2]
    # The wheel zooms (out, here) around the pointer; the event arrives asynchronously.
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.mouse.wheel(0, 300)
    page.page.wait_for_function(
        "width => Number(document.getElementById('dag').getAttribute('viewBox')"
        ".split(' ')[2]) > width",
        arg=panned[2],
    )
    page.page.click("#zoom-fit")
    assert page.view_box() == pytest.approx(fit)

    # Find a step: the others dim; Enter selects the match.
    # (by display name: "train" alone also finds CheckDrift, "Retrain?")
    page.page.fill("#graph-search", "train model")
    assert page.page.locator("g.node.match").count() == 1
    page.page.press("#graph-search", "Enter")
    assert page.page.locator("#details").get_attribute("data-step") == "Train"
    assert "selected" in page.nodes()["Train"]["cls"]

    # Data edges: hidden by default, shown by the toggle, and a step's own on hover.
    # Preprocess's splits read by Train, Evaluate and Baseline, through the drift check.
    implied = page.page.locator('path.edge.implied[data-source="Preprocess"]')
    assert implied.count() == 3 and not implied.first.is_visible()
    page.page.hover("#node-Preprocess")
    assert all(edge.is_visible() for edge in implied.all())
    page.page.mouse.move(0, 0)
    assert not any(edge.is_visible() for edge in implied.all())
    page.page.check("#toggle-data-edges")
    assert page.page.locator("path.edge.implied").evaluate_all(
        "edges => edges.every(e => getComputedStyle(e).display !== 'none')"
    )
    page.close()

    # On a phone: two fingers pinch the graph out (pointer events, as a touch screen sends).
    phone = Page(browser, "phone")
    phone.open(f"{served.url}executions/{runs.succeeded}.html")
    phone.graph_fits()
    before = phone.view_box()
    phone.page.evaluate(
        """() => {
            const svg = document.getElementById('dag');
            const r = svg.getBoundingClientRect(), cx = r.left + r.width / 2,
                  cy = r.top + r.height / 2;
            const send = (type, id, x) => svg.dispatchEvent(new PointerEvent(type,
                {pointerId: id, clientX: x, clientY: cy, bubbles: true, pointerType: 'touch'}));
            send('pointerdown', 1, cx - 20); send('pointerdown', 2, cx + 20);
            send('pointermove', 1, cx - 60); send('pointermove', 2, cx + 60);
            send('pointerup', 1, cx - 60); send('pointerup', 2, cx + 60);
        }"""
    )
    assert phone.view_box()[2] < before[2] / 2  # fingers 40 px apart, then 120: zoomed in
    phone.close()


@pytest.mark.parametrize("size", SIZES)
def test_index_filters_and_the_comparison_highlights_the_changed_parameter(
    browser, runs: Runs, served: ViewServer, size: str
) -> None:
    page = Page(browser, size)
    page.open(served.url)
    rows = page.page.locator("#executions tbody tr:not(.hidden)")
    assert rows.count() >= 3
    page.page.select_option("#filter-status", "Failed")
    assert rows.count() == 1 and runs.failed in rows.inner_text()
    assert "status=Failed" in page.page.url  # the filter is in the address, to share
    page.page.select_option("#filter-status", "")
    page.page.fill("#filter-text", "MetricThreshold=0.99")
    assert rows.count() == 1 and runs.failed in rows.inner_text()
    page.page.fill("#filter-text", "")

    assert page.page.locator("#compare-button").is_disabled()
    page.page.check(f'input.compare-pick[value="{runs.succeeded}"]')
    page.page.check(f'input.compare-pick[value="{runs.failed}"]')
    page.page.click("#compare-button")
    page.page.wait_for_selector("table.compare")
    assert page.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    row = page.page.locator('tr[data-row="Parameters/MetricThreshold"]')
    assert "differs" in row.get_attribute("class")
    changed = row.locator("td.changed")
    assert changed.count() == 1 and changed.inner_text() == "0.99"
    assert changed.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 241, 199)"
    same = page.page.locator('tr[data-row="Parameters/LearningRate"]')
    assert "same" in same.get_attribute("class") and same.locator("td.changed").count() == 0
    assert page.page.locator("#chart-trend circle.point").count() == 2
    page.close()


class Gate:
    """A listener that holds the run while Train is executing, until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def execution_started(self, execution_id, steps) -> None:
        pass

    def step_changed(self, update) -> None:
        if update.step.name == "Train" and update.status == "Executing":
            self.reached.set()
            assert self.release.wait(FAILSAFE_SECONDS), "the test never released the run"

    def execution_finished(self, result) -> None:
        pass


def test_a_running_execution_updates_in_place(browser, runs: Runs, served: ViewServer) -> None:
    gate = Gate()
    results = []
    run = threading.Thread(
        target=lambda: results.append(
            execute(runs.config, {"InputDataUrl": str(runs.sample)}, listener=gate)
        )
    )
    run.start()
    page = Page(browser, "phone")
    try:
        assert gate.reached.wait(FAILSAFE_SECONDS), "Train never started"
        execution = open_engine(runs.config).state.list_executions(1)[0].execution_id
        page.open(f"{served.url}executions/{execution}.html")
        assert page.page.locator("#execution-status").inner_text() == "Executing"
        assert page.page.locator("#live-indicator").is_visible()
        assert page.nodes()["Train"]["status"] == "Executing"
        page.page.evaluate("document.getElementById('node-Train').dataset.mark = 'before'")
        first = page.page.locator("#node-Train .state").text_content()
        # While it runs, the duration changes in place (a poll, not a reload).
        page.page.wait_for_function(
            "first => document.querySelector('#node-Train .state').textContent !== first",
            arg=first,
        )
        assert page.nodes()["Train"]["status"] == "Executing"
    finally:
        gate.release.set()
        run.join(FAILSAFE_SECONDS)
    assert results and results[0].succeeded
    page.page.wait_for_function("window.viewLive && window.viewLive.refreshed")
    nodes = page.nodes()
    assert {name: node["status"] for name, node in nodes.items()} == {
        name: status for name, status in recorded(runs, execution).items()
    }
    assert page.page.locator("#execution-status").inner_text() == "Succeeded"
    assert page.page.evaluate("document.getElementById('node-Train').dataset.mark") == "before"
    assert page.page.locator("#live-indicator").count() == 0
    # Polling stopped with the execution, and the finished page's sections replaced the
    # running ones.
    assert page.page.evaluate("window.viewLive.stopped")
    assert "held it back" in page.page.locator(".outcome").inner_text()
    page.screenshot("execution-live")
    page.close()


def test_a_written_page_works_offline(browser, runs: Runs, tmp_path: Path) -> None:
    """`view` writes one file: opened from disk it loads nothing and still works."""
    path = tmp_path / "definition.html"
    path.write_text(render_page(collect_definition(runs.config)), encoding="utf-8")
    page = Page(browser, "desktop")
    requests: list[str] = []
    page.page.on("request", lambda r: requests.append(r.url))
    page.open(path.as_uri())
    page.page.click("#node-Train")
    assert page.page.locator("#details").get_attribute("data-step") == "Train"
    assert requests == [path.as_uri()]
    page.close()
