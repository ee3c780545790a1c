"""Runs a step graph's steps in dependency order on a bounded thread pool.

`graphlib.TopologicalSorter` says which steps have all their upstream steps settled. A
settled step is one that succeeded, or one that will never run: when a step comes up
whose upstream did not all succeed (a branch not taken, a step that never ran), `skip` is
told and its own downstream comes up in turn. After a step ends in anything but Succeeded,
or once `stop` is set, no new step starts; the running ones finish. An exception here (a
Ctrl-C, a bug) sets `stop` before waiting for the running steps, so that they can end early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter

from pipelines.local.graph import StepGraph, StepNode
from pipelines.local.records import SUCCEEDED


def run_graph(
    graph: StepGraph,
    *,
    run_step: Callable[[StepNode], str],
    runnable: Callable[[StepNode], bool],
    skip: Callable[[StepNode], None],
    stop: threading.Event,
    max_parallel: int = 1,
    thread_name_prefix: str = "step",
) -> None:
    """`run_step` runs one step and returns its final status; `runnable` says whether a step
    whose upstream has settled may run (its upstream succeeded and its branch was taken)."""
    workers = max(1, max_parallel)
    rank = {name: index for index, name in enumerate(graph.order())}
    sorter = TopologicalSorter({node.name: node.depends_on for node in graph})
    sorter.prepare()
    waiting: list[str] = []
    running: dict[Future[str], str] = {}
    failed = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name_prefix) as pool:
        try:
            while True:
                if not failed and not stop.is_set():
                    waiting.extend(_settle(graph, sorter, runnable, skip))
                    waiting.sort(key=rank.__getitem__)
                    while waiting and len(running) < workers:
                        name = waiting.pop(0)
                        running[pool.submit(run_step, graph[name])] = name
                if not running:
                    return
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    if future.result() == SUCCEEDED:  # re-raises the engine's own bugs
                        sorter.done(name)
                    else:
                        failed = True
        except BaseException:
            stop.set()  # before the pool waits for the running steps
            raise


def _settle(
    graph: StepGraph,
    sorter: TopologicalSorter[str],
    runnable: Callable[[StepNode], bool],
    skip: Callable[[StepNode], None],
) -> list[str]:
    """The steps that may start now; those that never will are skipped on the way."""
    ready: list[str] = []
    batch = sorter.get_ready()
    while batch:
        for name in batch:
            if runnable(graph[name]):
                ready.append(name)
            else:
                skip(graph[name])
                sorter.done(name)
        batch = sorter.get_ready()
    return ready
