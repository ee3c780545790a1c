"""The step graph of a definition: every step (branch steps included) and what it waits for.

Edges come from property references (`Get: Steps.X...`, JsonGet property files) and
`DependsOn`, as SageMaker derives them; a step inside a ConditionStep's IfSteps/ElseSteps
also waits for that condition and runs only when its branch is taken. A step whose
upstream did not run (a branch not taken) does not run either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from pipelines.local.expressions import step_references


class DefinitionError(ValueError):
    """The definition cannot be run: unknown references, cycles, duplicate names."""


@dataclass
class StepNode:
    name: str
    type: str
    spec: Mapping[str, Any]
    depends_on: set[str] = field(default_factory=set)
    # (condition step, True for IfSteps / False for ElseSteps), innermost first
    branch: tuple[str, bool] | None = None
    position: int = 0


@dataclass
class StepGraph:
    nodes: dict[str, StepNode]

    def __iter__(self):
        return iter(self.nodes.values())

    def __getitem__(self, name: str) -> StepNode:
        return self.nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def order(self) -> list[str]:
        """A topological order, stable with respect to the definition's order."""
        sorter = TopologicalSorter({name: node.depends_on for name, node in self.nodes.items()})
        try:
            sorter.prepare()
        except CycleError as exc:
            cycle = ", ".join(sorted(set(exc.args[1])))
            raise DefinitionError(f"the steps {cycle} depend on each other in a cycle") from None
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=lambda n: self.nodes[n].position)
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered

    def downstream(self, names: Iterable[str]) -> set[str]:
        """Every step that (transitively) waits for any of `names`."""
        found: set[str] = set()
        frontier = set(names)
        while frontier:
            nxt = {
                node.name
                for node in self.nodes.values()
                if node.depends_on & frontier and node.name not in found
            }
            found |= nxt
            frontier = nxt
        return found


def build_graph(definition: Mapping[str, Any]) -> StepGraph:
    nodes: dict[str, StepNode] = {}
    position = 0

    def add(steps: Iterable[Mapping[str, Any]], branch: tuple[str, bool] | None) -> None:
        nonlocal position
        for spec in steps:
            name, kind = spec.get("Name"), spec.get("Type")
            if not name or not kind:
                raise DefinitionError(f"a step has no Name or Type: {dict(spec)!r:.200}")
            if name in nodes:
                raise DefinitionError(f"two steps are named {name!r}")
            node = StepNode(name, kind, spec, branch=branch, position=position)
            position += 1
            nodes[name] = node
            arguments = spec.get("Arguments", {})
            # A condition waits for what its Conditions read; its branch steps carry their
            # own references (counting them here could even close a cycle).
            read = arguments.get("Conditions", []) if kind == "Condition" else arguments
            node.depends_on |= step_references(read)
            node.depends_on |= set(spec.get("DependsOn") or [])
            if branch:
                node.depends_on.add(branch[0])
            if kind == "Condition":
                add(arguments.get("IfSteps", []), (name, True))
                add(arguments.get("ElseSteps", []), (name, False))

    add(definition.get("Steps", []), None)
    for node in nodes.values():
        unknown = sorted(node.depends_on - set(nodes))
        if unknown:
            raise DefinitionError(
                f"step {node.name} refers to unknown step(s) {', '.join(unknown)}"
            )
    graph = StepGraph(nodes)
    graph.order()  # refuses cycles up front
    return graph
