"""The DAG layout: nodes for every step, classified edges, layers that respect edges."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.local.graph import build_graph
from pipelines.view.layout import NODE_HEIGHT, graph_edges, layer_of, layout_graph

PROJECT_STEPS = {
    "ResolveChampion",
    "SnapshotInput",
    "Preprocess",
    "DriftCheck",
    "CheckDrift",
    "Train",
    "Evaluate",
    "Baseline",
    "CheckMetric",
    "FindRegisteredModel",
    "CheckChampion",
    "RegisterModel",
    "MetricBelowThreshold",
}


@pytest.fixture(scope="module")
def layout(local_definition: str):
    return layout_graph(build_graph(json.loads(local_definition)))


def edge_map(layout) -> dict[tuple[str, str], Any]:
    return {(e.source, e.target): e for e in layout.edges}


def test_every_step_of_the_definition_is_a_node(layout, local_definition: str) -> None:
    names = set(build_graph(json.loads(local_definition)).nodes)
    assert names == PROJECT_STEPS
    assert set(layout.nodes) == names
    assert layout.nodes["Train"].type == "Training"
    assert layout.nodes["MetricBelowThreshold"].type == "Fail"
    assert layout.nodes["Train"].display_name == "Train model"


def test_edges_come_from_get_jsonget_and_branches(layout) -> None:
    edges = edge_map(layout)
    assert edges["Preprocess", "Train"].kind == "data"  # Get on ProcessingOutputConfig
    assert any("ModelArtifacts" in r for r in edges["Train", "Evaluate"].reads)
    # JsonGet on the property file is a data edge too.
    assert edges["Evaluate", "CheckMetric"].reads == ("PropertyFiles.EvaluationReport",)
    assert edges["ResolveChampion", "Evaluate"].kind == "data"
    assert edges["SnapshotInput", "Preprocess"].kind == "data"
    assert (
        edges["CheckMetric", "CheckChampion"].kind,
        edges["CheckMetric", "CheckChampion"].label,
    ) == (
        "if",
        "if (true)",
    )
    assert edges["CheckMetric", "MetricBelowThreshold"].kind == "else"
    assert edges["CheckMetric", "MetricBelowThreshold"].label == "else (false)"
    assert edges["CheckChampion", "RegisterModel"].kind == "if"
    # A condition's branch steps are its own nodes, not data it reads.
    assert ("CheckMetric", "RegisterModel") not in edges


def test_dependency_edges_are_laid_out_and_implied_data_edges_are_not(layout) -> None:
    shown = {(e.source, e.target) for e in layout.edges if not e.implied}
    # What each step waits for, once: a chain with the champion lookup joining at the drift
    # check; every step of a condition's branch hangs from the condition.
    assert shown == {
        ("SnapshotInput", "Preprocess"),
        ("Preprocess", "DriftCheck"),
        ("ResolveChampion", "DriftCheck"),
        ("DriftCheck", "CheckDrift"),
        ("CheckDrift", "Train"),
        ("CheckDrift", "Evaluate"),
        ("CheckDrift", "Baseline"),
        ("CheckDrift", "CheckMetric"),
        ("Train", "Evaluate"),
        ("Train", "Baseline"),
        ("Baseline", "RegisterModel"),
        ("Evaluate", "CheckMetric"),
        ("CheckMetric", "CheckChampion"),
        ("CheckMetric", "FindRegisteredModel"),
        ("FindRegisteredModel", "CheckChampion"),
        ("CheckMetric", "MetricBelowThreshold"),
        ("CheckChampion", "RegisterModel"),
    }
    implied = edge_map(layout)["Preprocess", "Evaluate"]
    # Still there, with what it reads, for the page's data-edge view.
    assert implied.implied and implied.kind == "data" and implied.points == ()
    assert "ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri" in implied.reads


def test_layers_respect_every_edge_and_nodes_do_not_overlap(layout) -> None:
    for edge in layout.edges:
        assert layout.nodes[edge.target].layer > layout.nodes[edge.source].layer, edge
        span = layout.nodes[edge.target].layer - layout.nodes[edge.source].layer
        if not edge.implied:
            assert len(edge.points) == span - 1  # one routing point per crossed layer
    boxes = list(layout.nodes.values())
    for a in boxes:
        for b in boxes:
            if a is not b and a.layer == b.layer:
                assert a.x + a.width <= b.x or b.x + b.width <= a.x, (a.name, b.name)
        assert a.x >= 0 and a.x + a.width <= layout.width
        assert a.y >= 0 and a.y + NODE_HEIGHT <= layout.height
    assert layout.nodes["RegisterModel"].layer == 9  # the longest path: 10 layers


def _step(name: str, kind: str = "Processing", **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": kind, "Arguments": {}, **extra}


def test_depends_on_edges_and_longest_path_layering() -> None:
    definition = {
        "Steps": [
            _step("A"),
            _step("B", DependsOn=["A"]),
            _step("C", Arguments={"X": {"Get": "Steps.B.ProcessingOutputConfig"}}),
            # Reads A directly but also waits for C: longest path puts it below C.
            _step(
                "D",
                Arguments={"Y": {"Get": "Steps.A.ProcessingOutputConfig"}},
                DependsOn=["C"],
            ),
            _step("E"),
        ]
    }
    graph = build_graph(definition)
    edges = {(e.source, e.target): e.kind for e in graph_edges(graph)}
    assert edges == {
        ("A", "B"): "depends",
        ("B", "C"): "data",
        ("A", "D"): "data",
        ("C", "D"): "depends",
    }
    assert layer_of(graph) == {"A": 0, "E": 0, "B": 1, "C": 2, "D": 3}
    layout = layout_graph(graph)
    assert layout.layers[0] == ["A", "E"]
    # A -> D is implied (A -> B -> C -> D): drawn on demand, not routed.
    long_edge = next(e for e in layout.edges if (e.source, e.target) == ("A", "D"))
    assert long_edge.implied and long_edge.points == ()
    assert not any(e.implied for e in layout.edges if e != long_edge)


def test_a_long_dependency_edge_is_routed_through_every_layer_it_crosses() -> None:
    definition = {
        "Steps": [
            _step("A"),
            _step("B", DependsOn=["A"]),
            _step("C", DependsOn=["B"]),
            # Nothing else leads from E to D: the edge is a dependency across two layers.
            _step("E"),
            _step("D", Arguments={"Y": {"Get": "Steps.E.ProcessingOutputConfig"}}, DependsOn=["C"]),
        ]
    }
    layout = layout_graph(build_graph(definition))
    edge = next(e for e in layout.edges if (e.source, e.target) == ("E", "D"))
    assert not edge.implied and len(edge.points) == 2


def test_layout_is_deterministic(local_definition: str) -> None:
    first = layout_graph(build_graph(json.loads(local_definition))).to_dict()
    second = layout_graph(build_graph(json.loads(local_definition))).to_dict()
    assert first == second
