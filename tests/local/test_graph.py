"""The step graph: references, DependsOn, branches, order, errors."""

from __future__ import annotations

import json

import pytest

from pipelines.local.graph import DefinitionError, build_graph


def step(name: str, kind: str = "Processing", **arguments) -> dict:
    return {"Name": name, "Type": kind, "Arguments": arguments}


def definition(*steps: dict) -> dict:
    return {"Version": "2020-12-01", "Parameters": [], "Steps": list(steps)}


def test_edges_come_from_references_depends_on_and_branches() -> None:
    graph = build_graph(
        definition(
            step("A"),
            step("B", Input={"Get": "Steps.A.ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri"}),
            {**step("C"), "DependsOn": ["A"]},
            {
                "Name": "Check",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "Equals",
                            "LeftValue": {
                                "Std:JsonGet": {
                                    "PropertyFile": {"Get": "Steps.B.PropertyFiles.R"},
                                    "Path": "x",
                                }
                            },
                            "RightValue": 1,
                        }
                    ],
                    "IfSteps": [step("Yes", "RegisterModel", Model={"Get": "Steps.C.X"})],
                    "ElseSteps": [step("No", "Fail", ErrorMessage="no")],
                },
            },
        )
    )
    assert graph["B"].depends_on == {"A"}
    assert graph["C"].depends_on == {"A"}
    assert graph["Check"].depends_on == {"B"}
    assert graph["Yes"].depends_on == {"Check", "C"}
    assert graph["Yes"].branch == ("Check", True)
    assert graph["No"].branch == ("Check", False)
    order = graph.order()
    assert order.index("A") < order.index("B") < order.index("Check") < order.index("Yes")
    assert graph.downstream(["A"]) == {"B", "C", "Check", "Yes", "No"}


def test_unknown_references_cycles_and_duplicates_are_refused() -> None:
    with pytest.raises(DefinitionError, match="unknown step"):
        build_graph(definition(step("A", X={"Get": "Steps.Nope.Y"})))
    with pytest.raises(DefinitionError, match="cycle"):
        build_graph(
            definition(step("A", X={"Get": "Steps.B.Y"}), step("B", X={"Get": "Steps.A.Y"}))
        )
    with pytest.raises(DefinitionError, match="two steps are named 'A'"):
        build_graph(definition(step("A"), step("A")))


def test_the_projects_definition_forms_the_expected_graph(local_definition: str) -> None:
    graph = build_graph(json.loads(local_definition))
    assert graph["ResolveChampion"].depends_on == set()
    assert graph["SnapshotInput"].depends_on == set()
    assert graph["Preprocess"].depends_on == {"SnapshotInput"}
    assert graph["DriftCheck"].depends_on == {"Preprocess", "ResolveChampion"}
    assert graph["CheckDrift"].depends_on == {"DriftCheck"}
    # Training and everything after it run in CheckDrift's if-branch only.
    assert graph["Train"].depends_on == {"Preprocess", "CheckDrift"}
    assert graph["Train"].branch == ("CheckDrift", True)
    assert graph["Evaluate"].depends_on == {"Preprocess", "Train", "ResolveChampion", "CheckDrift"}
    assert graph["Baseline"].depends_on == {"Preprocess", "Train", "CheckDrift"}
    assert graph["CheckMetric"].depends_on == {"Evaluate", "CheckDrift"}
    assert graph["CheckChampion"].branch == ("CheckMetric", True)
    assert graph["RegisterModel"].depends_on == {"CheckChampion", "Train", "Evaluate", "Baseline"}
    assert graph["RegisterModel"].branch == ("CheckChampion", True)
    assert graph["MetricBelowThreshold"].branch == ("CheckMetric", False)
    assert graph.order()[:8] == [
        "ResolveChampion",
        "SnapshotInput",
        "Preprocess",
        "DriftCheck",
        "CheckDrift",
        "Train",
        "Evaluate",
        "Baseline",
    ]
