"""The scheduler alone: dependency order, the parallelism limit, branches not taken, and
no new step after a failure."""

from __future__ import annotations

import threading

import pytest

from pipelines.local.graph import StepGraph, StepNode, build_graph
from pipelines.local.records import FAILED, SUCCEEDED
from pipelines.local.scheduler import run_graph

TIMEOUT = 10.0


def step(name: str, *, after: tuple[str, ...] = ()) -> dict:
    return {"Name": name, "Type": "Fail", "DependsOn": list(after)}


def condition(name: str, if_steps: list[dict], else_steps: list[dict]) -> dict:
    return {
        "Name": name,
        "Type": "Condition",
        "Arguments": {"Conditions": [], "IfSteps": if_steps, "ElseSteps": else_steps},
    }


class Run:
    """Runs a graph with scripted step results; notes what started and what was skipped."""

    def __init__(self, graph: StepGraph, results: dict[str, str] | None = None) -> None:
        self.graph = graph
        self.results = results or {}
        self.started: list[str] = []
        self.skipped: list[str] = []
        self.status: dict[str, str] = {}
        self.outcomes: dict[str, bool] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run_step(self, node: StepNode) -> str:
        with self.lock:
            self.started.append(node.name)
        status = self.results.get(node.name, SUCCEEDED)
        self.status[node.name] = status
        return status

    def runnable(self, node: StepNode) -> bool:
        if any(self.status.get(d) != SUCCEEDED for d in node.depends_on):
            return False
        return node.branch is None or self.outcomes.get(node.branch[0]) is node.branch[1]

    def skip(self, node: StepNode) -> None:
        self.skipped.append(node.name)
        self.status[node.name] = "NotExecuted"

    def __call__(self, max_parallel: int = 1) -> Run:
        run_graph(
            self.graph,
            run_step=self.run_step,
            runnable=self.runnable,
            skip=self.skip,
            stop=self.stop,
            max_parallel=max_parallel,
        )
        return self


def test_steps_start_after_what_they_depend_on_in_definition_order() -> None:
    graph = build_graph(
        {"Steps": [step("C", after=("B",)), step("A"), step("B", after=("A",)), step("D")]}
    )
    assert Run(graph)().started == ["A", "D", "B", "C"]


def test_independent_steps_run_at_once_up_to_the_limit() -> None:
    graph = build_graph({"Steps": [step("A"), step("B"), step("C")]})
    together = threading.Barrier(2, timeout=TIMEOUT)
    running, peak = [0], [0]
    lock = threading.Lock()

    class Parallel(Run):
        def run_step(self, node: StepNode) -> str:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            if node.name in ("A", "B"):
                together.wait()  # both must be running at once, or this times out
            with lock:
                running[0] -= 1
            return super().run_step(node)

    run = Parallel(graph)(max_parallel=2)
    assert sorted(run.started) == ["A", "B", "C"] and peak[0] == 2


def test_a_branch_not_taken_and_what_follows_it_never_run() -> None:
    graph = build_graph(
        {
            "Steps": [
                condition(
                    "Check",
                    [step("Register"), step("Notify", after=("Register",))],
                    [step("Stop")],
                ),
                step("Report", after=("Notify",)),
            ]
        }
    )
    run = Run(graph)
    run.outcomes["Check"] = False
    run()
    assert run.started == ["Check", "Stop"]
    assert sorted(run.skipped) == ["Notify", "Register", "Report"]
    taken = Run(graph)
    taken.outcomes["Check"] = True
    taken()
    assert taken.started == ["Check", "Register", "Notify", "Report"]
    assert taken.skipped == ["Stop"]


def test_after_a_failure_no_new_step_starts_and_running_ones_finish() -> None:
    graph = build_graph({"Steps": [step("A"), step("B"), step("C"), step("D", after=("B",))]})
    release = threading.Event()
    a_failed = threading.Event()

    class Failing(Run):
        def run_step(self, node: StepNode) -> str:
            if node.name == "B":
                assert a_failed.wait(TIMEOUT)
                release.wait(TIMEOUT)
            status = super().run_step(node)
            if node.name == "A":
                a_failed.set()
                release.set()
            return status

    run = Failing(graph, {"A": FAILED})(max_parallel=2)
    assert sorted(run.started) == ["A", "B"]  # B, already running, finished; C, D never began
    assert run.status["B"] == SUCCEEDED


def test_a_stop_request_starts_nothing_more() -> None:
    graph = build_graph({"Steps": [step("A"), step("B", after=("A",))]})

    class Stopping(Run):
        def run_step(self, node: StepNode) -> str:
            self.stop.set()
            return super().run_step(node)

    assert Stopping(graph)().started == ["A"]


def test_an_interruption_stops_the_running_steps_before_waiting_for_them() -> None:
    """Ctrl-C while steps run: `stop` is set first, so they can end early; else the
    interruption would wait for every running job to finish on its own."""
    graph = build_graph({"Steps": [step("Slow"), step("Other")]})
    started = threading.Event()

    class Interrupted(Run):
        def run_step(self, node: StepNode) -> str:
            if node.name == "Slow":
                started.set()
                assert self.stop.wait(TIMEOUT), "never told to stop"
                return "Stopped"
            assert started.wait(TIMEOUT)
            raise KeyboardInterrupt

    run = Interrupted(graph)
    with pytest.raises(KeyboardInterrupt):
        run(max_parallel=2)
    assert run.stop.is_set()
