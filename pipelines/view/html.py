"""The page: one self-contained HTML document (inline CSS, SVG and JS, no network).

The DAG is drawn here as SVG from the Python layout, so the page works without the script;
the script only fills the details panel from the JSON data block. Every string that comes
from data is escaped: `html.escape` in markup, and in the JSON block every `<`, `>` and `&`
is a \\u escape, so no value can close the <script> element. The script itself sets only
`textContent`, never `innerHTML`, from data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from itertools import pairwise
from typing import Any

from pipelines.local.lineage import format_bytes
from pipelines.local.progress import format_seconds
from pipelines.view.cost import format_usd

# Status -> CSS class; a cache hit gets its own class on top of "succeeded".
STATUS_CLASSES = {
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Executing": "executing",
    "Starting": "executing",
    "Stopping": "executing",
    "Stopped": "failed",
    "NotExecuted": "notexecuted",
    "NotStarted": "notstarted",
}
TYPE_COLOURS = {
    "Processing": "#3b6fd4",
    "Training": "#8e44ad",
    "Condition": "#d68910",
    "Fail": "#c0392b",
    "RegisterModel": "#16a085",
    "Lambda": "#e67e22",
}


def json_for_script(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">."""
    text = json.dumps(data, sort_keys=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_class(step: Mapping[str, Any]) -> str:
    if step.get("cache_hit") and step.get("status") == "Succeeded":
        return "cached"
    return STATUS_CLASSES.get(step.get("status") or "NotStarted", "notstarted")


def _status_line(step: Mapping[str, Any], definition_only: bool) -> str:
    if definition_only:
        return step["type"]
    parts = [step["status"]]
    if step.get("duration") is not None:
        parts.append(format_seconds(step["duration"]))
    if step.get("cache_hit"):
        parts.append("⚡ cache hit")
    if step.get("retries"):
        parts.append(f"↻ {step['retries']} {'retry' if step['retries'] == 1 else 'retries'}")
    return " · ".join(parts)


def _path(points: list[tuple[float, float]]) -> str:
    """A smooth vertical S-curve through the points."""
    (x, y), *rest = points
    d = f"M{x:.1f},{y:.1f}"
    for nx, ny in rest:
        mid = (y + ny) / 2
        d += f" C{x:.1f},{mid:.1f} {nx:.1f},{mid:.1f} {nx:.1f},{ny:.1f}"
        x, y = nx, ny
    return d


def render_svg(document: Mapping[str, Any]) -> str:
    layout = document["layout"]
    steps = {s["name"]: s for s in document["steps"]}
    boxes = {n["name"]: n for n in layout["nodes"]}
    definition_only = document.get("execution") is None
    out = [
        f'<svg id="dag" width="{layout["width"]:.0f}" '
        f'height="{layout["height"]:.0f}" viewBox="0 0 {layout["width"]:.0f} '
        f'{layout["height"]:.0f}" role="img" aria-label="pipeline graph">',
        "<defs>"
        + "".join(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'class="arrow-{kind}"/></marker>'
            for kind in ("data", "depends", "if", "else")
        )
        + "</defs>",
    ]
    labels = []
    ports = _ports(layout["edges"], boxes)
    for number, edge in enumerate(layout["edges"]):
        source, target = boxes[edge["source"]], boxes[edge["target"]]
        start = (ports[number][0], source["y"] + source["height"])
        end = (ports[number][1], target["y"])
        points = [start]
        for x, y in edge["points"]:
            # Through the crossed layer's band: enter at its top, leave at its bottom.
            points += [(x, y), (x, y + source["height"])]
        points.append(end)
        title = escape(
            f"{edge['source']} → {edge['target']}: " + (", ".join(edge["reads"]) or edge["label"])
        )
        out.append(
            f'<path class="edge edge-{escape(edge["kind"])}" '
            f'data-source="{escape(edge["source"])}" '
            f'data-target="{escape(edge["target"])}" d="{_path(points)}" '
            f'marker-end="url(#arrow-{escape(edge["kind"])})"><title>{title}</title></path>'
        )
        if edge["kind"] in ("if", "else"):
            # Label just above the target end, where the branch arrives.
            lx, ly = end[0], end[1] - 14
            labels.append(
                f'<g class="edge-label label-{edge["kind"]}"><rect x="{lx - 40:.1f}" '
                f'y="{ly - 11:.1f}" width="80" height="16" rx="8"/><text x="{lx:.1f}" '
                f'y="{ly + 1:.1f}" text-anchor="middle">{escape(edge["label"])}</text></g>'
            )
    out += labels
    for name, box in boxes.items():
        step = steps[name]
        css = status_class(step) if not definition_only else "definition"
        colour = TYPE_COLOURS.get(step["type"], "#7f8c8d")
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        title = step["display_name"] or name
        out.append(
            f'<g class="node {css}" id="node-{escape(name)}" data-step="{escape(name)}" '
            f'data-status="{escape(step["status"])}" '
            f'data-cache-hit="{str(step["cache_hit"]).lower()}" '
            f'tabindex="0" role="button" aria-label="{escape(name)}">'
            f'<rect class="box" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8"/>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="7" height="{h:.1f}" rx="3" '
            f'fill="{colour}"/>'
            f'<text class="title" x="{x + 16:.1f}" y="{y + 21:.1f}">'
            f"{escape(_clip(title, 26))}</text>"
            f'<text class="sub" x="{x + 16:.1f}" y="{y + 38:.1f}">'
            f"{escape(_clip(name, 20))} · {escape(step['type'])}</text>"
            f'<text class="state" x="{x + 16:.1f}" y="{y + 56:.1f}">'
            f"{escape(_clip(_status_line(step, definition_only), 32))}</text>"
            f"<title>{escape(name)} ({escape(step['type'])})</title></g>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _ports(
    edges: list[Mapping[str, Any]], boxes: Mapping[str, Mapping[str, Any]]
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


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], css: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _parameters(document: Mapping[str, Any]) -> str:
    execution = document.get("execution")
    if execution:
        rows = sorted((k, json.dumps(v)) for k, v in execution["parameters"].items())
        return _table(("Parameter", "Value"), rows, "params")
    rows = [
        (p["name"], p["type"], json.dumps(p["default"])) for p in document["pipeline"]["parameters"]
    ]
    return _table(("Parameter", "Type", "Default"), rows, "params")


def _evaluation(document: Mapping[str, Any]) -> str:
    evaluation = document.get("evaluation")
    if not evaluation:
        return '<p class="muted">No evaluation report (the evaluation step did not run).</p>'
    metric = evaluation["metric"]
    # SageMaker's "best constant classifier" figures stay in the JSON; the decision below
    # names the baseline the gate compares with.
    rows = [
        (name + (" (compared)" if name == metric else ""), f"{value:.4f}")
        for name, value in sorted(evaluation["metrics"].items())
        if not name.endswith("_best_constant_classifier")
    ]
    parts = [_table(("Metric", "Value"), rows, "metrics")]
    decision = evaluation.get("decision") or {}
    if decision:
        verdict = "register" if decision.get("register") else "do not register"
        level = decision.get("confidence_level")
        span = f" ({level:.0%} interval)" if isinstance(level, int | float) else ""
        facts = [
            ("Decision", verdict),
            ("Passes threshold", decision.get("passes_threshold")),
            ("Threshold", decision.get("threshold")),
            ("Beats no-skill baseline", decision.get("beats_baseline")),
            ("No-skill baseline", decision.get("baseline")),
            ("Advantage over it" + span, _interval(decision.get("baseline_advantage_interval"))),
            ("Beats champion", decision.get("beats_champion")),
            ("Challenger", decision.get("challenger")),
            ("Challenger" + span, _interval(decision.get("challenger_interval"))),
            ("Champion", decision.get("champion")),
            ("Champion version", decision.get("champion_version")),
            ("Improvement", decision.get("improvement")),
            ("Improvement" + span, _interval(decision.get("improvement_interval"))),
            ("Margin", decision.get("margin")),
        ]
        css = "decision register" if decision.get("register") else "decision reject"
        parts.append(
            f'<div class="{css}" id="decision"><h3>Champion / challenger</h3>'
            f'<p class="reason">{escape(str(decision.get("reason") or ""))}</p>'
            + _table(("", ""), [(k, _fact(v)) for k, v in facts], "facts")
            + "</div>"
        )
    parts.append(_quality_charts(evaluation))
    parts.append(
        f'<p class="muted">From {escape(evaluation["uri"])} '
        f"({escape(evaluation['local'] or '')})</p>"
    )
    return "".join(parts)


SNAPSHOT_OBJECTS_SHOWN = 20


def _snapshot(document: Mapping[str, Any]) -> str:
    snapshot = document.get("snapshot")
    if not snapshot:
        return '<p class="muted">No input snapshot (the snapshot step did not run).</p>'
    facts = [
        ("Fingerprint", snapshot["fingerprint"]),
        ("Source", snapshot.get("source") or "-"),
        ("Objects", f"{snapshot['object_count']} ({format_bytes(snapshot['total_bytes'])})"),
        ("Manifest", snapshot["manifest"]),
    ]
    if snapshot.get("partition_window"):
        partitions = ", ".join(snapshot.get("partitions") or [])
        facts.append(("Window", f"newest {snapshot['partition_window']}: {partitions}"))
    parts = [f'<div id="snapshot">{_table(("", ""), facts, "facts")}']
    if snapshot["record_missing"]:
        parts.append('<p class="muted">The snapshot record is no longer in the local store.</p>')
    else:
        objects = snapshot["objects"]
        rows = [(o["key"], o["size"], o["etag"]) for o in objects[:SNAPSHOT_OBJECTS_SHOWN]]
        parts.append(_table(("Object", "Bytes", "ETag"), rows, "objects"))
        if len(objects) > SNAPSHOT_OBJECTS_SHOWN:
            more = len(objects) - SNAPSHOT_OBJECTS_SHOWN
            parts.append(f'<p class="muted">… and {more} more in {escape(snapshot["record"])}</p>')
        ignored = snapshot["ignored"]
        if ignored.get("count"):
            example = ignored["examples"][0]
            parts.append(
                f'<p class="muted">{ignored["count"]} object(s) ignored, e.g. '
                f"{escape(example['key'])}: {escape(example['reason'])}</p>"
            )
    parts.append("</div>")
    return "".join(parts)


def _fact(value: Any) -> Any:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else value


def _interval(interval: Any) -> str | None:
    if not isinstance(interval, Mapping):
        return None
    return f"{float(interval['lower']):.4f} to {float(interval['upper']):.4f}"


# Each model's colour and dash on the charts.
CURVE_STYLES = {"challenger": ("#2357c5", ""), "champion": ("#d35400", "6 4")}
CHART = {"left": 44, "top": 12, "size": 200, "bottom": 36}


def _quality_charts(evaluation: Mapping[str, Any]) -> str:
    """ROC and precision-recall curves of the challenger and the champion on the same test
    rows, with the no-skill line and each model's operating point, and their confusion
    matrices. Inline SVG: the page needs no script or network to show them."""
    evidence = evaluation.get("evidence") or {}
    models = [(name, evidence[name]) for name in CURVE_STYLES if evidence.get(name)]
    if not models:
        return ""
    version = ((evaluation.get("decision") or {}).get("champion_version")) or ""
    labels = {"challenger": "challenger", "champion": f"champion v{version}".strip(" v")}
    challenger = models[0][1]
    rate = challenger.get("positive_rate") or 0.0
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
        ([(0.0, rate), (1.0, rate)], f"no skill (positive rate {rate:.3f})"),
    )
    matrices = "".join(_confusion_table(name, labels[name], model) for name, model in models)
    return (
        '<div class="quality" id="quality"><h3>Model quality on the test rows</h3>'
        f'<div class="charts">{roc}{pr}</div><div class="matrices">{matrices}</div>'
        '<p class="muted">Dots: where each model flags (its decision threshold). '
        "Confusion matrices: actual class by row, predicted class by column.</p></div>"
    )


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
) -> str:
    left, top, size, bottom = CHART["left"], CHART["top"], CHART["size"], CHART["bottom"]
    width, height = left + size + 12, top + size + bottom

    def at(x: float, y: float) -> str:
        x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
        return f"{left + x * size:.1f},{top + (1 - y) * size:.1f}"

    total = height + 18 * len(curves)
    out = [
        f'<svg class="chart" id="chart-{kind}" width="{width}" height="{total}" '
        f'viewBox="0 0 {width} {total}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<rect class="plot" x="{left}" y="{top}" width="{size}" height="{size}"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        x, y = left + tick * size, top + (1 - tick) * size
        out.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + size}"/>'
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + size}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{x:.1f}" y="{top + size + 13}" text-anchor="middle">'
            f"{tick:g}</text>"
            f'<text class="tick" x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    out.append(
        f'<text class="axis" x="{left + size / 2}" y="{top + size + 29}" text-anchor="middle">'
        f"{escape(axes[0])}</text>"
        f'<text class="axis" transform="translate(11,{top + size / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(axes[1])}</text>'
    )
    line, text = no_skill
    out.append(
        f'<polyline class="no-skill" points="{" ".join(at(x, y) for x, y in line)}">'
        f"<title>{escape(text)}</title></polyline>"
    )
    for number, (name, points, steps, operating) in enumerate(curves):
        colour, dash = CURVE_STYLES[name]
        if steps:
            # Precision holds at each recall until the next positive is found: the step
            # curve whose area is the average precision.
            drawn = points[:1] + [
                corner for (x0, _), (x1, y1) in pairwise(points) for corner in ((x0, y1), (x1, y1))
            ]
        else:
            drawn = points
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline class="curve curve-{name}" stroke="{colour}"{dashes} '
            f'points="{" ".join(at(x, y) for x, y in drawn)}">'
            f"<title>{escape(labels[name])}</title></polyline>"
        )
        if operating is not None:
            cx, cy = at(*operating).split(",")
            out.append(
                f'<circle class="operating operating-{name}" cx="{cx}" cy="{cy}" r="4" '
                f'fill="{colour}"><title>{escape(labels[name])}: decision threshold '
                f"({operating[0]:.3f}, {operating[1]:.3f})</title></circle>"
            )
        y = height + 18 * number + 4
        out.append(
            f'<line x1="{left}" y1="{y}" x2="{left + 22}" y2="{y}" stroke="{colour}" '
            f'stroke-width="2"{dashes}/><text class="legend-text" x="{left + 28}" '
            f'y="{y + 4}">{escape(labels[name])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _confusion_table(name: str, label: str, model: Mapping[str, Any]) -> str:
    negative, positive = model["classes"]
    cells = model["confusion_matrix"]
    rows = "".join(
        f"<tr><th>{escape(actual)}</th>"
        + "".join(
            f'<td class="{"hit" if actual == guess else "miss"}">'
            f"{int(cells[actual].get(guess, 0))}</td>"
            for guess in (negative, positive)
        )
        + "</tr>"
        for actual in (negative, positive)
    )
    return (
        f'<table class="confusion" id="confusion-{escape(name)}"><caption>{escape(label)}'
        f"</caption><thead><tr><th>actual \\ predicted</th><th>{escape(negative)}</th>"
        f"<th>{escape(positive)}</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _registered(document: Mapping[str, Any]) -> str:
    model = document.get("registered_model")
    held_back = document.get("held_back_by") or []
    if not model and held_back:
        reasons = "".join(
            f"<li><strong>{escape(c['step'])}</strong> did not hold: "
            f"<code>{escape(str(c['summary']))}</code></li>"
            for c in held_back
        )
        return (
            '<div id="registered"><p>Not registered, although the evaluation says register:'
            f"</p><ul>{reasons}</ul></div>"
        )
    if not model:
        return '<p class="muted" id="registered">No model version registered by this execution.</p>'
    return (
        f'<p id="registered">{escape(str(model["group"]))} version '
        f"<strong>{escape(str(model['version']))}</strong> "
        f"({escape(str(model['approval_status']))} at registration)<br>"
        f"<code>{escape(str(model['arn']))}</code></p>"
    )


def _cost(document: Mapping[str, Any]) -> str:
    report = document.get("cost")
    if not report:
        return ""
    rows = [
        (
            line["step"],
            line["instance_type"] or "-",
            line["instance_count"] or "-",
            "-" if line["billed_seconds"] is None else f"{line['billed_seconds']} s",
            "-" if line["price_per_hour"] is None else f"${line['price_per_hour']:g}/h",
            format_usd(line["cost"]) if line["priced"] else "unpriced",
            format_usd(line["savings"]) if line["savings"] is not None else "-",
            line["note"],
        )
        for line in report["steps"]
    ]
    total = format_usd(report["total"])
    if not report["complete"]:
        total += " + unpriced steps (" + ", ".join(report["unpriced_steps"]) + ")"
    return (
        _table(
            ("Step", "Instance", "Count", "Billed", "Price", "Cost", "Saved", "Note"),
            rows,
            "cost",
        )
        + f'<p id="cost-total"><strong>Total {escape(total)}</strong> · saved '
        f"{escape(format_usd(report['savings']))} by cache hits</p>"
        f'<p class="muted">Billing: {escape(report["billing"])}. Prices from [pricing] in '
        "pipeline.toml (SageMaker on-demand list prices, us-east-1; edit to match your "
        "account). Local durations are an estimate of SageMaker's billable time.</p>"
    )


def render_page(document: Mapping[str, Any], links: Mapping[str, str] | None = None) -> str:
    """The whole page. `links` (from the server) adds navigation: {"label": "href"}."""
    execution = document.get("execution")
    pipeline = document["pipeline"]["name"]
    if execution:
        title = f"{pipeline} · execution {execution['id']}"
        status = execution["status"]
        header = (
            f'<span class="badge {escape(STATUS_CLASSES.get(status, "notstarted"))}" '
            f'id="execution-status">{escape(status)}</span> '
            f"started {escape(_time(execution['start_time']))} · "
            f"duration {escape(format_seconds(execution['duration']))}"
        )
        if execution["failure_reason"]:
            detail = execution.get("failure_detail")
            why = f"<br><strong>Why:</strong> {escape(detail)}" if detail else ""
            header += (
                f'<div class="failure" id="execution-failure"><strong>Failure reason:</strong> '
                f"{escape(execution['failure_reason'])}{why}</div>"
            )
        for step in document["steps"]:
            if step.get("cache_warning"):
                header += (
                    f'<div class="warning cache-warning">{escape(step["cache_warning"])}</div>'
                )
        if not document.get("definition_matches", True):
            header += (
                '<div class="warning">The definition this execution ran is no longer cached; '
                "the graph shows the current definition.</div>"
            )
    else:
        title = f"{pipeline} · pipeline definition"
        header = (
            '<span class="badge definition" id="execution-status">Definition</span> '
            "the pipeline's structure, as before any run"
        )
    nav = ""
    if links:
        nav = (
            "<nav>"
            + " · ".join(
                f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in links.items()
            )
            + "</nav>"
        )
    sections = [
        ("Parameters", _parameters(document)),
    ]
    if execution:
        sections += [
            ("Data snapshot", _snapshot(document)),
            ("Evaluation", _evaluation(document)),
            ("Registered model", _registered(document)),
            ("Cost", _cost(document)),
        ]
    body = "".join(
        f'<section id="section-{escape(name.lower().replace(" ", "-"))}"><h2>{escape(name)}</h2>'
        f"{content}</section>"
        for name, content in sections
    )
    return _PAGE.format(
        title=escape(title),
        nav=nav,
        header=header,
        svg=render_svg(document),
        sections=body,
        data=json_for_script(document),
        css=_CSS,
        script=_SCRIPT,
    )


def render_index(executions: Iterable[Mapping[str, Any]], pipeline: str) -> str:
    rows = []
    for e in executions:
        duration = format_seconds(e["end_time"] - e["start_time"]) if e.get("end_time") else "-"
        rows.append(
            f'<tr><td><a class="execution" href="/executions/{escape(e["execution_id"])}.html">'
            f"{escape(e['execution_id'])}</a></td>"
            f'<td><span class="badge {escape(STATUS_CLASSES.get(e["status"], "notstarted"))}">'
            f"{escape(e['status'])}</span></td><td>{escape(_time(e['start_time']))}</td>"
            f"<td>{escape(duration)}</td>"
            f"<td>{escape((e.get('failure_detail') or e.get('failure_reason') or '')[:120])}"
            "</td></tr>"
        )
    table = (
        "<table><thead><tr><th>Execution</th><th>Status</th><th>Started</th><th>Duration</th>"
        "<th>Failure reason</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        if rows
        else '<p class="muted">No local executions yet.</p>'
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(pipeline)} · executions</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(pipeline)}</h1><p>Local executions, newest first · "
        '<a href="/definition.html" id="definition-link">pipeline definition</a></p></header>'
        f"<main class='index'>{table}</main></body></html>"
    )


_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d2330; background: #f5f6f8; }
header { padding: 14px 22px; background: #fff; border-bottom: 1px solid #dde1e7; }
h1 { font-size: 19px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 6px 0; }
nav { margin-bottom: 6px; font-size: 13px; }
a { color: #2357c5; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 440px; gap: 16px; padding: 16px 22px; }
main.index { display: block; }
.graph { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; overflow: auto; }
#details { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 12px 14px;
  position: sticky; top: 12px; max-height: calc(100vh - 24px); overflow: auto; align-self: start; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 12px 14px;
  margin: 0 22px 16px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #eceef2;
  vertical-align: top; }
th { color: #5b6475; font-weight: 600; }
pre { background: #0f1724; color: #dfe6f1; padding: 8px 10px; border-radius: 6px;
  overflow: auto; max-height: 320px; font-size: 12px; white-space: pre-wrap;
  word-break: break-all; }
code { font-size: 12px; word-break: break-all; }
#snapshot td { word-break: break-all; } #snapshot table.objects { margin-top: 10px; }
.muted { color: #6b7385; font-size: 12px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600;
  font-size: 12px; border: 1px solid; }
.failure { margin-top: 8px; padding: 8px 10px; background: #fdecea; border: 1px solid #e6a39b;
  border-radius: 6px; }
.warning { margin-top: 8px; padding: 8px 10px; background: #fff6dd; border: 1px solid #e5c56b;
  border-radius: 6px; }
.decision { margin-top: 10px; padding: 6px 10px; border-radius: 6px; }
.decision.register { background: #eaf6ee; } .decision.reject { background: #fdf1e8; }
.quality .charts, .quality .matrices { display: flex; gap: 18px; flex-wrap: wrap; }
.chart .plot { fill: #fff; stroke: #8a93a3; } .chart .grid { stroke: #eceef2; }
.chart .tick, .chart .legend-text { font-size: 10.5px; fill: #5b6475; }
.chart .axis { font-size: 11.5px; fill: #1d2330; }
.chart .no-skill { fill: none; stroke: #a3a9b4; stroke-dasharray: 3 3; }
.chart .curve { fill: none; stroke-width: 2; }
table.confusion { margin-top: 8px; } table.confusion caption { text-align: left;
  font-weight: 600; padding-bottom: 2px; }
table.confusion td { text-align: right; min-width: 56px; }
table.confusion td.hit { background: #eaf6ee; } table.confusion td.miss { background: #fdf1e8; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; padding: 8px 12px; font-size: 12px;
  border-bottom: 1px solid #eceef2; }
.legend span::before { content: ""; display: inline-block; width: 11px; height: 11px;
  margin-right: 5px; border-radius: 3px; vertical-align: -1px; border: 1.5px solid var(--b);
  background: var(--f); }
.succeeded { --f: #e7f5ea; --b: #2e9e4f; } .failed { --f: #fdecea; --b: #d0392b; }
.executing { --f: #e6effd; --b: #2f6fe0; } .cached { --f: #e3f4f7; --b: #12879b; }
.notstarted, .notexecuted { --f: #f3f4f6; --b: #a3a9b4; } .definition { --f: #fff; --b: #7b8494; }
.badge.succeeded, .badge.failed, .badge.executing, .badge.cached, .badge.notstarted,
.badge.notexecuted, .badge.definition { background: var(--f); border-color: var(--b); }
.node { cursor: pointer; }
.node .box { fill: var(--f); stroke: var(--b); stroke-width: 1.6; }
.node.notstarted .box, .node.notexecuted .box { stroke-dasharray: 5 3; }
.node.cached .box { stroke-dasharray: 9 3 2 3; stroke-width: 2; }
.node.executing .box { stroke-width: 2.4; }
.node.selected .box { stroke-width: 3.2; filter: drop-shadow(0 2px 4px rgba(0,0,0,.25)); }
.node:focus { outline: none; } .node:focus .box { stroke-width: 3; }
.node text { font-size: 12px; fill: #1d2330; pointer-events: none; }
.node .title { font-weight: 700; font-size: 13px; }
.node .sub { fill: #5b6475; font-size: 11.5px; } .node .state { font-size: 11.5px; }
.node.notexecuted text, .node.notstarted text { fill: #767e8c; }
.edge { fill: none; stroke: #8a93a3; stroke-width: 1.5; }
.edge-depends { stroke-dasharray: 4 3; }
.edge-if { stroke: #2e9e4f; stroke-width: 1.8; } .edge-else { stroke: #d0392b; stroke-width: 1.8; }
.arrow-data, .arrow-depends { fill: #8a93a3; } .arrow-if { fill: #2e9e4f; }
.arrow-else { fill: #d0392b; }
.edge-label rect { fill: #fff; stroke-width: 1.2; }
.label-if rect { stroke: #2e9e4f; } .label-else rect { stroke: #d0392b; }
.edge-label text { font-size: 11px; font-weight: 600; }
.label-if text { fill: #1f7a3a; } .label-else text { fill: #b03024; }
dl { display: grid; grid-template-columns: 120px 1fr; gap: 2px 10px; margin: 6px 0 10px; }
dt { color: #5b6475; } dd { margin: 0; word-break: break-word; }
.file { padding: 4px 0; border-bottom: 1px solid #eceef2; }
.file code { display: block; } .file code.local { color: #4a5468; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("view-data").textContent);
  var steps = {};
  data.steps.forEach(function (s) { steps[s.name] = s; });
  var costs = {};
  ((data.cost || {}).steps || []).forEach(function (c) { costs[c.step] = c; });
  var panel = document.getElementById("details");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function seconds(v) {
    if (v === null || v === undefined) { return "-"; }
    if (v < 60) { return v.toFixed(1) + "s"; }
    var m = Math.floor(v / 60), s = Math.floor(v % 60);
    return m + "m" + (s < 10 ? "0" : "") + s + "s";
  }
  function facts(pairs) {
    var dl = el("dl");
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") { return; }
      dl.appendChild(el("dt", p[0]));
      dl.appendChild(el("dd", p[1]));
    });
    return dl;
  }
  function files(title, items) {
    var box = el("div", null, "files");
    box.appendChild(el("h3", title));
    items.forEach(function (i) {
      var item = el("div", null, "file");
      item.appendChild(el("strong", i.name));
      if (i.container) { item.appendChild(el("span", "  " + i.container, "muted")); }
      item.appendChild(el("code", i.uri));
      if (i.local) { item.appendChild(el("code", "local: " + i.local, "local")); }
      box.appendChild(item);
    });
    return box;
  }
  function show(name) {
    var s = steps[name];
    if (!s) { return; }
    document.querySelectorAll(".node.selected").forEach(function (n) {
      n.classList.remove("selected");
    });
    var node = document.getElementById("node-" + name);
    if (node) { node.classList.add("selected"); }
    panel.textContent = "";
    panel.setAttribute("data-step", name);
    panel.appendChild(el("h2", (s.display_name || s.name) + " (" + s.type + ")"));
    if (s.description) { panel.appendChild(el("p", s.description, "muted")); }
    var pairs = [["Step", s.name]];
    if (data.execution) {
      pairs.push(["Status", s.status + (s.cache_hit ? " (cache hit)" : "")]);
      pairs.push(["Duration", seconds(s.duration)]);
      pairs.push(["Attempts", s.attempts + (s.retries ? " (" + s.retries + " retries)" : "")]);
      if (s.cache_hit) { pairs.push(["Reused from", "execution " + s.cache_source]); }
      pairs.push(["Job", s.job_name]);
      pairs.push(["Job folder", s.job_dir]);
      var c = costs[s.name];
      if (c) {
        pairs.push(["Instances",
          (c.instance_count || "-") + " \u00d7 " + (c.instance_type || "-")]);
        pairs.push(["Cost", c.priced ? "$" + c.cost.toFixed(4) : "unpriced"]);
        if (c.note) { pairs.push(["Cost note", c.note]); }
      }
    }
    panel.appendChild(facts(pairs));
    if (s.failure_reason) {
      panel.appendChild(el("h3", "Failure reason"));
      panel.appendChild(el("pre", s.failure_reason, "failure-reason"));
    } else if (s.fail_message) {
      panel.appendChild(el("h3", "Error message"));
      panel.appendChild(el("pre", s.fail_message, "failure-reason"));
    }
    if (s.condition) {
      panel.appendChild(el("h3", "Condition"));
      panel.appendChild(el("p", "Outcome " + s.condition.outcome + ": " + s.condition.summary));
    }
    if (s.model_package) {
      panel.appendChild(el("h3", "Registered model"));
      panel.appendChild(el("p", s.model_package.group + " version " + s.model_package.version +
        " (" + s.model_package.approval_status + ")"));
    }
    if (s.inputs.length) { panel.appendChild(files("Inputs", s.inputs)); }
    if (s.outputs.length) { panel.appendChild(files("Outputs", s.outputs)); }
    var args = el("details");
    args.appendChild(el("summary", "Arguments (" + (s.arguments_source === "resolved" ?
      "resolved: what the engine ran" : "from the definition") + ")"));
    args.appendChild(el("pre", JSON.stringify(s.arguments, null, 2), "arguments"));
    panel.appendChild(args);
    if (s.logs.length) {
      panel.appendChild(el("h3", "Log tail" + (s.cache_hit ? " (of the reused run)" : "")));
      s.logs.forEach(function (log) {
        panel.appendChild(el("p", log.path, "muted"));
        var text = log.missing ? "(log file missing)" :
          (log.lines.length ? log.lines.join("\n") : "(empty)");
        panel.appendChild(el("pre", text, "log"));
      });
    }
  }
  document.querySelectorAll(".node").forEach(function (node) {
    var name = node.getAttribute("data-step");
    node.addEventListener("click", function () { show(name); });
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); show(name); }
    });
  });
  var failed = data.steps.filter(function (s) { return s.status === "Failed"; })[0];
  if (failed) { show(failed.name); }
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{css}</style>
</head><body>
<header>{nav}<h1>{title}</h1><div>{header}</div></header>
<main>
<div class="graph">
<div class="legend"><span class="succeeded">Succeeded</span><span class="cached">Cache hit</span>
<span class="failed">Failed</span><span class="executing">Executing</span>
<span class="notexecuted">Not started / not reached</span></div>
{svg}
</div>
<aside id="details"><h2>Details</h2><p class="muted">Click a step to see its arguments,
inputs and outputs, log tail and failure reason.</p></aside>
</main>
{sections}
<script type="application/json" id="view-data">{data}</script>
<script>{script}</script>
</body></html>
"""
