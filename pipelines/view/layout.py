"""The DAG of a definition laid out in layers, top to bottom, as Studio draws it.

Pure: it takes the engine's `StepGraph` (so the edges are exactly what the engine waits
for) and returns positions. Layers come from longest-path layering (a step sits one layer
below its deepest upstream step, so every edge points down); the order within a layer is a
few barycenter sweeps, which keeps the few edges of a pipeline DAG from crossing.

Only the dependency edges are laid out: an edge whose target the source reaches through
other steps anyway (Evaluate reads Preprocess's test split, but also waits for Train, which
waits for Preprocess) is `implied`. The page draws those as data edges on demand; drawing
all of them by default tangles the graph. Condition branches are never implied: their
labels say which way the condition went.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipelines.local.expressions import step_references
from pipelines.local.graph import StepGraph, StepNode

NODE_WIDTH = 210
NODE_HEIGHT = 66
H_GAP = 50
V_GAP = 70
MARGIN = 30
VIRTUAL_WIDTH = 16


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    # "data" (Get / JsonGet on the source's properties), "depends" (DependsOn only),
    # "if" / "else" (the target is in that branch of the source ConditionStep).
    kind: str
    label: str = ""
    # What the target reads from the source, e.g. "PropertyFiles.EvaluationReport".
    reads: tuple[str, ...] = ()
    # Top-centre of each layer a long edge crosses (its virtual nodes), top to bottom.
    points: tuple[tuple[float, float], ...] = ()
    # The target is reached from the source through other edges too: not laid out.
    implied: bool = False


@dataclass
class NodeBox:
    name: str
    type: str
    display_name: str
    layer: int
    order: int
    x: float = 0.0
    y: float = 0.0
    width: float = NODE_WIDTH
    height: float = NODE_HEIGHT


@dataclass
class Layout:
    nodes: dict[str, NodeBox]
    edges: list[Edge]
    width: float
    height: float
    layers: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [asdict(n) for n in self.nodes.values()],
            "edges": [asdict(e) for e in self.edges],
            "width": self.width,
            "height": self.height,
            "layers": self.layers,
        }


def graph_edges(graph: StepGraph) -> list[Edge]:
    """Every edge the engine honours, classified by why it exists."""
    edges: list[Edge] = []
    for node in graph:
        reads = _reads_by_step(node)
        explicit = set(node.spec.get("DependsOn") or [])
        for source in sorted(node.depends_on, key=lambda n: graph[n].position):
            if node.branch and node.branch[0] == source:
                kind = "if" if node.branch[1] else "else"
                label = "if (true)" if node.branch[1] else "else (false)"
                edges.append(Edge(source, node.name, kind, label))
            elif source in reads:
                edges.append(Edge(source, node.name, "data", reads=tuple(sorted(reads[source]))))
            elif source in explicit:
                edges.append(Edge(source, node.name, "depends", "depends on"))
    return edges


def _reads_by_step(node: StepNode) -> dict[str, set[str]]:
    """Which properties of which upstream step the node's arguments read."""
    arguments = node.spec.get("Arguments", {})
    # The graph counts only a condition's Conditions; its branch steps are separate nodes.
    read = arguments.get("Conditions", []) if node.type == "Condition" else arguments
    found: dict[str, set[str]] = {}
    for reference in _gets(read):
        _, step, path = [*reference.split(".", 2), ""][:3]
        found.setdefault(step, set()).add(path)
    # Cross-check with the engine's own reference walk, so the two can never disagree.
    for step in step_references(read):
        found.setdefault(step, set())
    return found


def _gets(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            yield get
        for item in value.values():
            yield from _gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _gets(item)


def mark_implied(edges: list[Edge]) -> list[Edge]:
    """The edges, with `implied` set on those a longer path already covers (the transitive
    reduction's complement), branch edges excepted."""
    downstream: dict[str, set[str]] = {}
    for edge in edges:
        downstream.setdefault(edge.source, set()).add(edge.target)

    def reachable_avoiding(edge: Edge) -> bool:
        seen: set[str] = set()
        frontier = [n for n in downstream.get(edge.source, ()) if n != edge.target]
        while frontier:
            name = frontier.pop()
            if name == edge.target:
                return True
            if name not in seen:
                seen.add(name)
                frontier.extend(downstream.get(name, ()))
        return False

    return [
        replace(edge, implied=edge.kind not in ("if", "else") and reachable_avoiding(edge))
        for edge in edges
    ]


def layer_of(graph: StepGraph) -> dict[str, int]:
    """Longest-path layering: 0 for steps that wait for nothing."""
    layers: dict[str, int] = {}
    for name in graph.order():  # upstream steps first
        deps = graph[name].depends_on
        layers[name] = 1 + max((layers[d] for d in deps), default=-1)
    return layers


def layout_graph(graph: StepGraph, sweeps: int = 4) -> Layout:
    layer_index = layer_of(graph)
    count = 1 + max(layer_index.values(), default=-1)
    edges = mark_implied(graph_edges(graph))

    # An edge spanning several layers gets a thin virtual node in each layer it crosses, so
    # the ordering makes room for it and it is drawn around the steps instead of through them.
    layers: list[list[str]] = [[] for _ in range(count)]
    for name in sorted(layer_index, key=lambda n: graph[n].position):
        layers[layer_index[name]].append(name)
    upstream: dict[str, list[str]] = {name: [] for name in layer_index}
    downstream: dict[str, list[str]] = {name: [] for name in layer_index}
    chains: dict[int, list[str]] = {}
    for number, edge in enumerate(edges):
        if edge.implied:
            chains[number] = []
            continue
        chain = [edge.source]
        for layer in range(layer_index[edge.source] + 1, layer_index[edge.target]):
            virtual = f"\0{number}:{layer}"
            layers[layer].append(virtual)
            upstream[virtual], downstream[virtual] = [], []
            chain.append(virtual)
        chain.append(edge.target)
        chains[number] = chain[1:-1]
        for a, b in itertools.pairwise(chain):
            downstream[a].append(b)
            upstream[b].append(a)

    # Barycenter sweeps, down then up; ties keep the current order (stable sort), so the
    # result is deterministic.
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        for i in range(1, count) if down else range(count - 2, -1, -1):
            neighbours = upstream if down else downstream
            rank = {name: k for k, name in enumerate(layers[i - 1] if down else layers[i + 1])}
            current = {name: k for k, name in enumerate(layers[i])}

            def key(name: str, rank=rank, current=current, neighbours=neighbours) -> float:
                linked = [rank[n] for n in neighbours[name] if n in rank]
                return sum(linked) / len(linked) if linked else current[name]

            layers[i] = sorted(layers[i], key=key)

    def span(layer: list[str]) -> float:
        return sum(_width(n) for n in layer) + max(len(layer) - 1, 0) * H_GAP

    width = 2 * MARGIN + max((span(layer) for layer in layers), default=0)
    height = 2 * MARGIN + count * NODE_HEIGHT + max(count - 1, 0) * V_GAP
    nodes: dict[str, NodeBox] = {}
    centres: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layers):
        x = (width - span(layer)) / 2  # each layer centred under the widest one
        y = MARGIN + i * (NODE_HEIGHT + V_GAP)
        for k, name in enumerate(layer):
            centres[name] = (x + _width(name) / 2, y)
            if not _is_virtual(name):
                node = graph[name]
                nodes[name] = NodeBox(
                    name=name,
                    type=node.type,
                    display_name=str(node.spec.get("DisplayName") or ""),
                    layer=i,
                    order=sum(1 for n in layer[:k] if not _is_virtual(n)),
                    x=x,
                    y=y,
                )
            x += _width(name) + H_GAP
    routed = [
        replace(edge, points=tuple(centres[v] for v in chains[number]))
        for number, edge in enumerate(edges)
    ]
    ordered = {name: nodes[name] for name in sorted(nodes, key=lambda n: graph[n].position)}
    real_layers = [[n for n in layer if not _is_virtual(n)] for layer in layers]
    return Layout(ordered, routed, float(width), float(height), real_layers)


def _is_virtual(name: str) -> bool:
    return name.startswith("\0")


def _width(name: str) -> float:
    return VIRTUAL_WIDTH if _is_virtual(name) else NODE_WIDTH
