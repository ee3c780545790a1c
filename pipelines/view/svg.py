"""Geometry for the page's inline SVG: the DAG, the ROC and precision-recall charts and the
metric trend. Pure numbers and SVG path/point strings; the templates write the elements.

No library is loaded by the page for any of this: a few curves and boxes do not need one,
and the page must work offline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from pipelines.view.formats import format_number

TYPE_COLOURS = {
    "Processing": "#3b6fd4",
    "Training": "#8e44ad",
    "Condition": "#d68910",
    "Fail": "#c0392b",
    "RegisterModel": "#16a085",
    "Lambda": "#e67e22",
}
NODE_STATE_CHARACTERS = 32  # a node's status line, clipped to its box
LANE_GAP = 26  # between the outermost box and the first side lane of an implied edge
LANE_STEP = 14  # between two side lanes
LANE_DROP = 12  # how far below a box (above its target) an implied edge turns


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _s_curve(points: Sequence[tuple[float, float]]) -> str:
    """A smooth vertical S-curve through the points."""
    (x, y), *rest = points
    d = f"M{x:.1f},{y:.1f}"
    for nx, ny in rest:
        mid = (y + ny) / 2
        d += f" C{x:.1f},{mid:.1f} {nx:.1f},{mid:.1f} {nx:.1f},{ny:.1f}"
        x, y = nx, ny
    return d


def _ports(
    edges: Sequence[Mapping[str, Any]], boxes: Mapping[str, Mapping[str, Any]]
) -> list[tuple[float, float]]:
    """Where each edge leaves its source and enters its target: spread over the middle of
    the box edge, ordered by where the other end is, so arrows and labels do not pile up."""

    def towards(edge: Mapping[str, Any], end: str) -> float:
        if edge["points"]:
            return edge["points"][0 if end == "source" else -1][0]
        box = boxes[edge["target" if end == "source" else "source"]]
        return box["x"] + box["width"] / 2

    result = [[0.0, 0.0] for _ in edges]
    for end, slot in (("source", 0), ("target", 1)):
        groups: dict[str, list[int]] = {}
        for number, edge in enumerate(edges):
            groups.setdefault(edge[end], []).append(number)
        for name, numbers in groups.items():
            box = boxes[name]
            numbers.sort(key=lambda n: towards(edges[n], end))
            usable = box["width"] * 0.6
            step = usable / len(numbers)
            for k, number in enumerate(numbers):
                offset = (k + 0.5) * step - usable / 2 if len(numbers) > 1 else 0.0
                result[number][slot] = box["x"] + box["width"] / 2 + offset
    return [(a, b) for a, b in result]


def _side_lane(
    edge: Mapping[str, Any],
    boxes: Mapping[str, Mapping[str, Any]],
    lanes: dict[str, int],
    middle: float,
) -> tuple[str, float]:
    """An implied edge runs down a lane beside the boxes it passes, so it never crosses one:
    right of them when its source is right of the middle, else left."""
    source, target = boxes[edge["source"]], boxes[edge["target"]]
    top, bottom = source["y"], target["y"] + target["height"]
    passed = [b for b in boxes.values() if b["y"] + b["height"] >= top and b["y"] <= bottom]
    side = "right" if source["x"] + source["width"] / 2 >= middle else "left"
    lanes[side] = lanes.get(side, 0) + 1
    shift = LANE_GAP + (lanes[side] - 1) * LANE_STEP
    if side == "right":
        x = max(b["x"] + b["width"] for b in passed) + shift
    else:
        x = min(b["x"] for b in passed) - shift
    return side, x


def _lane_path(source: Mapping[str, Any], target: Mapping[str, Any], side: str, lane: float) -> str:
    """Out of the source's bottom (near the lane's side), across the gap below it to the
    lane, down the lane, across the gap above the target, into its top: the horizontal runs
    stay in the gaps between layers, so the edge crosses no box."""
    near = 0.85 if side == "right" else 0.15
    sx, sy = source["x"] + source["width"] * near, source["y"] + source["height"]
    tx, ty = target["x"] + target["width"] * near, target["y"]
    below, above = sy + LANE_DROP, ty - LANE_DROP
    return (
        f"M{sx:.1f},{sy:.1f} L{sx:.1f},{below:.1f} L{lane:.1f},{below:.1f} "
        f"L{lane:.1f},{above:.1f} L{tx:.1f},{above:.1f} L{tx:.1f},{ty:.1f}"
    )


def graph_geometry(document: Mapping[str, Any]) -> dict[str, Any]:
    """Boxes, edges (dependency edges shown, implied data edges drawn on demand), branch
    labels and the bounds of it all, for the template."""
    layout = document["layout"]
    steps = {s["name"]: s for s in document["steps"]}
    boxes = {n["name"]: n for n in layout["nodes"]}
    shown = [e for e in layout["edges"] if not e.get("implied")]
    ports = _ports(shown, boxes)
    edges, labels = [], []
    for number, edge in enumerate(shown):
        source, target = boxes[edge["source"]], boxes[edge["target"]]
        start = (ports[number][0], source["y"] + source["height"])
        end = (ports[number][1], target["y"])
        points = [start]
        for x, y in edge["points"]:
            # Through the crossed layer's band: enter at its top, leave at its bottom.
            points += [(x, y), (x, y + source["height"])]
        points.append(end)
        edges.append({**_edge_facts(edge), "d": _s_curve(points), "implied": False})
        if edge["kind"] in ("if", "else"):
            # Label just above the target end, where the branch arrives.
            labels.append(
                {"kind": edge["kind"], "x": end[0], "y": end[1] - 14, "text": edge["label"]}
            )
    lanes: dict[str, int] = {}
    left, right = 0.0, float(layout["width"])
    for edge in (e for e in layout["edges"] if e.get("implied")):
        side, lane = _side_lane(edge, boxes, lanes, layout["width"] / 2)
        left, right = min(left, lane - LANE_GAP), max(right, lane + LANE_GAP)
        path = _lane_path(boxes[edge["source"]], boxes[edge["target"]], side, lane)
        edges.append({**_edge_facts(edge), "d": path, "implied": True})
    nodes = []
    for name, box in boxes.items():
        step = steps[name]
        nodes.append(
            {
                "name": name,
                "x": box["x"],
                "y": box["y"],
                "width": box["width"],
                "height": box["height"],
                "colour": TYPE_COLOURS.get(step["type"], "#7f8c8d"),
                "title": clip(step["display_name"] or name, 26),
                "sub": f"{clip(name, 20)} · {step['type']}",
                "state": clip(step["state_line"], NODE_STATE_CHARACTERS),
                "search": f"{name} {step['display_name']} {step['type']}".lower(),
            }
        )
    return {
        "nodes": nodes,
        "edges": edges,
        "labels": labels,
        "view_box": (left, 0.0, right - left, float(layout["height"])),
    }


def _edge_facts(edge: Mapping[str, Any]) -> dict[str, Any]:
    reads = ", ".join(edge.get("reads") or ())
    return {
        "source": edge["source"],
        "target": edge["target"],
        "kind": edge["kind"],
        "data": bool(edge.get("reads")),
        "title": f"{edge['source']} → {edge['target']}: " + (reads or edge["label"]),
    }


# -- model-quality charts ---------------------------------------------------------------

# Each model's colour and dash on the charts.
CURVE_STYLES = {"challenger": ("#2357c5", ""), "champion": ("#d35400", "6 4")}
CHART = {"left": 44, "top": 12, "size": 200, "bottom": 36}


def _at(x: float, y: float) -> tuple[float, float]:
    left, top, size = CHART["left"], CHART["top"], CHART["size"]
    x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    return left + x * size, top + (1 - y) * size


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join("{:.1f},{:.1f}".format(*_at(x, y)) for x, y in points)


def quality_charts(evaluation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """ROC and precision-recall curves of the challenger and the champion on the same test
    rows, with the no-skill line and each model's operating point, and their confusion
    matrices; None when evaluation.json has no curves."""
    evidence = (evaluation or {}).get("evidence") or {}
    models = [(name, evidence[name]) for name in CURVE_STYLES if evidence.get(name)]
    if not models:
        return None
    version = ((evaluation or {}).get("decision") or {}).get("champion_version") or ""
    labels = {"challenger": "challenger", "champion": f"champion v{version}".strip(" v")}
    rate = models[0][1].get("positive_rate") or 0.0
    roc = _chart(
        "roc",
        "ROC curve",
        ("false positive rate", "true positive rate"),
        [(name, model["roc"], False, _operating(model, "roc")) for name, model in models],
        labels,
        ([(0.0, 0.0), (1.0, 1.0)], "no skill (AUC 0.5)"),
    )
    pr = _chart(
        "pr",
        "Precision-recall curve",
        ("recall", "precision"),
        [(name, model["pr"], True, _operating(model, "pr")) for name, model in models],
        labels,
        ([(0.0, rate), (1.0, rate)], f"no skill (positive rate {format_number(rate)})"),
    )
    matrices = [
        {
            "name": name,
            "label": labels[name],
            "classes": model["classes"],
            "rows": [
                [
                    (int(model["confusion_matrix"][actual].get(guess, 0)), actual == guess)
                    for guess in model["classes"]
                ]
                for actual in model["classes"]
            ],
        }
        for name, model in models
    ]
    return {"charts": [roc, pr], "matrices": matrices}


def _operating(model: Mapping[str, Any], curve: str) -> tuple[float, float] | None:
    point = model.get("operating_point") or {}
    names = ("false_positive_rate", "recall") if curve == "roc" else ("recall", "precision")
    x, y = (point.get(name) for name in names)
    return None if x is None or y is None else (float(x), float(y))


def _chart(
    kind: str,
    title: str,
    axes: tuple[str, str],
    curves: list[tuple[str, list, bool, tuple[float, float] | None]],
    labels: Mapping[str, str],
    no_skill: tuple[list[tuple[float, float]], str],
) -> dict[str, Any]:
    left, top, size, bottom = CHART["left"], CHART["top"], CHART["size"], CHART["bottom"]
    width, height = left + size + 12, top + size + bottom
    drawn = []
    for number, (name, points, steps, operating) in enumerate(curves):
        colour, dash = CURVE_STYLES[name]
        if steps:
            # Precision holds at each recall until the next positive is found: the step
            # curve whose area is the average precision.
            points = points[:1] + [
                corner for (x0, _), (x1, y1) in pairwise(points) for corner in ((x0, y1), (x1, y1))
            ]
        dot = None
        if operating is not None:
            cx, cy = _at(*operating)
            dot = {
                "x": cx,
                "y": cy,
                "title": f"{labels[name]}: decision threshold "
                f"({format_number(operating[0])}, {format_number(operating[1])})",
            }
        drawn.append(
            {
                "name": name,
                "label": labels[name],
                "colour": colour,
                "dash": dash,
                "points": _points(points),
                "operating": dot,
                "legend_y": height + 18 * number + 4,
            }
        )
    line, text = no_skill
    return {
        "kind": kind,
        "title": title,
        "axes": axes,
        "width": width,
        "height": height + 18 * len(curves),
        "plot": {"x": left, "y": top, "size": size},
        "ticks": [
            {"value": f"{tick:g}", "x": left + tick * size, "y": top + (1 - tick) * size}
            for tick in (0.0, 0.5, 1.0)
        ],
        "no_skill": {"points": _points(line), "title": text},
        "curves": drawn,
    }


# -- metric trend -----------------------------------------------------------------------

TREND = {"left": 52, "right": 16, "top": 14, "bottom": 44, "step": 46, "height": 170, "min": 300}


def _nice_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low >= 0.0 and high <= 1.0:
        # A rate or score: the whole 0..1 scale unless the points crowd one end of it.
        return (0.0, 1.0) if high - low > 0.25 else (max(0.0, low - 0.1), min(1.0, high + 0.1))
    pad = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    return low - pad, high + pad


def trend_chart(
    points: Sequence[Mapping[str, Any]], metric: str, href: str | None = None
) -> dict[str, Any] | None:
    """The compared metric across executions, oldest first, with the threshold each was
    held to. `points`: {"id", "value", "threshold", "css", "start_time"}; `href` a pattern
    with "{id}" to link each point to its execution's page. None without two values."""
    valued = [p for p in points if isinstance(p.get("value"), int | float)]
    if len(valued) < 2:
        return None
    valued = sorted(valued, key=lambda p: p.get("start_time") or 0)
    numbers = [float(p["value"]) for p in valued] + [
        float(p["threshold"]) for p in valued if isinstance(p.get("threshold"), int | float)
    ]
    low, high = _nice_range(numbers)
    left, top, height = TREND["left"], TREND["top"], TREND["height"]
    # Points spread over at least TREND["min"] pixels, TREND["step"] apart when many.
    step = max(TREND["step"], (TREND["min"] - 20) / (len(valued) - 1))
    width = left + TREND["right"] + step * (len(valued) - 1) + 20

    def y_of(value: float) -> float:
        share = (value - low) / (high - low) if high > low else 0.5
        return top + (1 - share) * height

    drawn = []
    for index, point in enumerate(valued):
        x = left + 10 + step * index
        threshold = point.get("threshold")
        drawn.append(
            {
                "id": point["id"],
                "x": x,
                "y": y_of(float(point["value"])),
                "css": point.get("css") or "",
                "label": str(point["id"])[:6],
                "title": f"{point['id']}: {metric} {format_number(point['value'])}"
                + (
                    f" (threshold {format_number(threshold)})"
                    if isinstance(threshold, int | float)
                    else ""
                ),
                "threshold_y": y_of(float(threshold))
                if isinstance(threshold, int | float)
                else None,
                "href": href.replace("{id}", str(point["id"])) if href else None,
            }
        )
    ticks = [
        {"y": y_of(low + (high - low) * k / 4), "text": format_number(low + (high - low) * k / 4)}
        for k in range(5)
    ]
    return {
        "metric": metric,
        "width": width,
        "height": top + height + TREND["bottom"],
        "plot": {"x": left, "y": top, "width": width - left - TREND["right"], "height": height},
        "ticks": ticks,
        "line": " ".join(f"{p['x']:.1f},{p['y']:.1f}" for p in drawn),
        "points": drawn,
        "label_y": top + height + 16,
        "axis_y": top + height + 36,
    }


# -- drift: baseline vs current distribution per feature ---------------------------------

DRIFT = {"left": 34, "right": 8, "top": 8, "bottom": 22, "height": 74, "slot": 22, "min": 150}
DRIFT_COLOURS = {"baseline": "#a3a9b4", "current": "#3b6fd4", "drift": "#c0392b"}


def drift_chart(feature: Mapping[str, Any]) -> dict[str, Any] | None:
    """A feature's distribution on the baseline's bins: per bin a grey bar (the baseline's
    share of rows) beside a coloured one (the current data's), red when the feature drifted;
    None without a distribution (a missing feature)."""
    distribution = feature.get("distribution") or {}
    bins = list(distribution.get("bins") or [])
    if not bins:
        return None
    baseline = [float(v) for v in distribution.get("baseline") or []]
    current = [float(v) for v in distribution.get("current") or []]
    largest = max([*baseline, *current, 0.01])
    top_share = largest * 1.08  # a little headroom above the tallest bar
    left, top, height, slot = DRIFT["left"], DRIFT["top"], DRIFT["height"], DRIFT["slot"]
    width = max(DRIFT["min"], left + DRIFT["right"] + slot * len(bins))
    slot = (width - left - DRIFT["right"]) / len(bins)
    bar = max(2.0, slot * 0.4)
    colour = DRIFT_COLOURS["drift" if feature.get("status") == "drift" else "current"]

    def y_of(share: float) -> float:
        return top + (1 - share / top_share) * height

    bars = []
    for index, label in enumerate(bins):
        x = left + slot * index + slot / 2
        before, after = baseline[index], current[index]
        bars.append(
            {
                "label": clip(str(label), 12),
                "x": x,
                "title": f"{label}: baseline {before:.1%}, current {after:.1%}",
                "baseline": {"x": x - bar, "y": y_of(before), "height": y_of(0) - y_of(before)},
                "current": {"x": x, "y": y_of(after), "height": y_of(0) - y_of(after)},
            }
        )
    return {
        "name": feature["name"],
        "width": width,
        "height": top + height + DRIFT["bottom"],
        "plot": {"x": left, "y": top, "width": width - left - DRIFT["right"], "height": height},
        "bar_width": bar,
        "colour": colour,
        "baseline_colour": DRIFT_COLOURS["baseline"],
        "top_label": f"{largest:.0%}",
        "top_y": y_of(largest),
        "bars": bars,
        # Bin labels only when they fit under their bars (else in each bar's tooltip).
        "labels": slot >= 30,
        "label_y": top + height + 14,
    }
