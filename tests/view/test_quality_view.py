"""The view's model-quality charts: challenger and champion curves, operating points and
confusion matrices drawn as inline SVG and tables from evaluation.json's shape."""

from __future__ import annotations

import re

from pipelines.view.model import quality_evidence
from pipelines.view.render import render_page


def metrics(tp: int, fp: int, fn: int, tn: int, classes=("0", "1")) -> dict:
    negative, positive = classes
    return {
        "confusion_matrix": {
            negative: {negative: tn, positive: fp},
            positive: {negative: fn, positive: tp},
        },
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": [0.0, 0.1, 1.0],
            "true_positive_rates": [0.0, 0.6, 1.0],
        },
        "precision_recall_curve": {"precisions": [1.0, 0.8, 0.1], "recalls": [0.0, 0.5, 1.0]},
    }


def test_evidence_reads_the_curves_and_the_operating_point():
    evidence = quality_evidence(metrics(tp=6, fp=4, fn=4, tn=86), "1")
    assert evidence["roc"] == [(0.0, 0.0), (0.1, 0.6), (1.0, 1.0)]
    assert evidence["pr"] == [(0.0, 1.0), (0.5, 0.8), (1.0, 0.1)]
    assert evidence["operating_point"] == {
        "false_positive_rate": 4 / 90,
        "recall": 0.6,
        "precision": 0.6,
    }
    assert evidence["positive_rate"] == 0.1 and evidence["classes"] == ["0", "1"]
    # The positive class decides, not the keys' order ("10" sorts before "2").
    numbers = quality_evidence(metrics(6, 4, 4, 86, classes=("2", "10")), "10")
    assert numbers["classes"] == ["2", "10"] and numbers["operating_point"]["recall"] == 0.6


def test_evidence_of_an_unexpected_shape_is_nothing_to_draw():
    assert quality_evidence({}, "1") is None
    broken = metrics(1, 1, 1, 1)
    broken["precision_recall_curve"]["recalls"] = ["high", "low", "none"]
    assert quality_evidence(broken, "1") is None
    assert quality_evidence(metrics(1, 1, 1, 1), "yes") is None


def page_with(evidence: dict, version: str = "4") -> str:
    document = {
        "pipeline": {"name": "p", "parameters": []},
        "layout": {"width": 10, "height": 10, "nodes": [], "edges": []},
        "steps": [],
        "execution": {
            "why": None,
            "links": {},
            "id": "e1",
            "arn": "arn",
            "status": "Succeeded",
            "start_time": 0,
            "end_time": 1,
            "duration": 1,
            "failure_reason": None,
            "parameters": {},
            "options": {},
            "warnings": [],
        },
        "evaluation": {
            "uri": "s3://b/evaluation.json",
            "local": None,
            "metric": "average_precision",
            "metrics": {"average_precision": 0.4},
            "decision": {"register": True, "reason": "why", "champion_version": version},
            "checks": [],
            "evidence": evidence,
        },
        "target": "local",
        "snapshot": None,
        "registered_model": None,
        "held_back_by": [],
        "cost": None,
        "outcome": None,
        "live": False,
        "definition_matches": True,
    }
    return render_page(document)


def test_challenger_and_champion_are_drawn_side_by_side():
    page = page_with(
        {
            "challenger": quality_evidence(metrics(6, 4, 4, 86), "1"),
            "champion": quality_evidence(metrics(3, 9, 7, 81), "1"),
        }
    )
    for chart in ("roc", "pr"):
        svg = page.split(f'id="chart-{chart}"', 1)[1].split("</svg>", 1)[0]
        assert 'class="curve curve-challenger"' in svg and 'class="curve curve-champion"' in svg
        assert 'class="no-skill"' in svg
        assert svg.count('class="operating ') == 2
    # The PR curve is the step curve of average precision: at recall 0.5 precision 0.8 holds
    # from recall 0 (x = 44 + 0 * 200, y = 12 + 0.2 * 200) to 0.5 (x = 144).
    pr = page.split('id="chart-pr"', 1)[1].split("</svg>", 1)[0]
    challenger = re.search(r'curve-challenger" stroke="[^"]+" points="([^"]+)"', pr).group(1)
    assert challenger.split()[:4] == ["44.0,12.0", "44.0,52.0", "144.0,52.0", "144.0,192.0"]
    # A no-skill line at the positive rate (0.1).
    assert 'points="44.0,192.0 244.0,192.0"' in pr
    champion = page.split('id="confusion-champion"', 1)[1].split("</table>", 1)[0]
    assert "champion v4" in champion
    assert re.findall(r"<td[^>]*>(\d+)</td>", champion) == ["81", "9", "7", "3"]


def test_class_names_are_escaped():
    classes = ("<ok>", "<script>alert(1)</script>")
    page = page_with({"challenger": quality_evidence(metrics(1, 1, 1, 1, classes), classes[1])})
    table = page.split('id="confusion-challenger"', 1)[1].split("</table>", 1)[0]
    assert "<script>" not in table and "&lt;script&gt;alert(1)&lt;/script&gt;" in table
