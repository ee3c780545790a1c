"""An execution's outcome in plain words, computed once: registered, not registered again,
held back by a condition, rejected by the quality gate, failed at a step, stopped, running.
The run's final summary (pipelines.app.progress) and the execution's page
(pipelines.view.explain) both render `outcome()`, from `OutcomeFacts` each builds out of
what it has (the engine's result; the view's document, local or collected from SageMaker).

The words come from structured data, never from a condition's raw expression: the
evaluation's `decision` block (which rule held, by how much, with what confidence) and a
Condition step's recorded evaluations (operands and values), with S3 URIs named by what
they are (a registered version, a file an execution wrote).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.app.report import format_number, metric_words
from pipelines.local.records import RUNNING, ExecutionStatus

_EXECUTION_IN_URI = re.compile(r"/executions/([A-Za-z0-9-]+)/")
_COMPARISON_WORDS = {
    "Equals": "equal to",
    "GreaterThan": "greater than",
    "GreaterThanOrEqualTo": "at least",
    "LessThan": "less than",
    "LessThanOrEqualTo": "at most",
}

# FindRegisteredModel's answer: the version already holding the model's files, or "none".
_REGISTERED_VERSION = "the version already holding these model files"
# ...and the execution holding the claim to register them ("none" when a version holds them).
_CLAIM_HOLDER = "the execution holding the claim to register these model files"

# A model data URL -> what it is: {"version", "group", "execution"} (any may be missing).
KnownModels = Mapping[str, Mapping[str, Any]]


def _level(decision: Mapping[str, Any]) -> str:
    level = decision.get("confidence_level")
    return f"{level:.0%}" if isinstance(level, int | float) else "the configured"


def _interval(interval: Any) -> str:
    if not isinstance(interval, Mapping):
        return "unknown"
    return f"{format_number(interval.get('lower'))} to {format_number(interval.get('upper'))}"


def decision_checks(decision: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The quality gate's rules as sentences: {"rule", "passed" (True, False or None when it
    did not apply), "text"}, in the order the pipeline applies them."""
    if not decision:
        return []
    metric = metric_words(str(decision.get("metric") or "the metric"))
    value, threshold = decision.get("challenger"), decision.get("threshold")
    higher = decision.get("higher_is_better", True)
    level = _level(decision)
    checks: list[dict[str, Any]] = []
    passes = decision.get("passes_threshold")
    if passes is not None:
        if passes:
            text = (
                f"The test {metric}, {format_number(value)}, is "
                f"{'at least' if higher else 'at most'} the threshold "
                f"{format_number(threshold)} (MetricThreshold)."
            )
        elif isinstance(value, int | float) and isinstance(threshold, int | float):
            gap = abs(value - threshold)
            text = (
                f"The test {metric}, {format_number(value)}, is {format_number(gap)} "
                f"{'below' if higher else 'above'} the threshold {format_number(threshold)} "
                "(MetricThreshold)."
            )
        else:
            text = f"The test {metric} does not reach the threshold (MetricThreshold)."
        checks.append({"rule": "threshold", "passed": bool(passes), "text": text})
    beats = decision.get("beats_baseline")
    if beats is not None:
        baseline = format_number(decision.get("baseline"))
        about = decision.get("baseline_description")
        p_value = format_number(decision.get("baseline_p_value"))
        advantage = _interval(decision.get("baseline_advantage_interval"))
        named = f"a model without skill ({baseline}{': ' + about if about else ''})"
        if beats:
            text = (
                f"It beats {named}: shuffled labels score as well with probability {p_value}, "
                f"and the {level} interval of its advantage is {advantage}."
            )
        else:
            text = (
                f"It does not beat {named} with {level} confidence: shuffled labels score as "
                f"well with probability {p_value}; the interval of its advantage is {advantage}."
            )
        checks.append({"rule": "baseline", "passed": bool(beats), "text": text})
    champion = decision.get("champion")
    if champion is None:
        checks.append(
            {
                "rule": "champion",
                "passed": None,
                "text": "No approved champion yet: there is no model in production to beat.",
            }
        )
    else:
        version = decision.get("champion_version")
        who = f"the champion (version {version}, {format_number(champion)})"
        improvement = _interval(decision.get("improvement_interval"))
        margin = format_number(decision.get("margin") or 0.0)
        if decision.get("beats_champion"):
            text = (
                f"It beats {who} by {format_number(decision.get('improvement'))}: the {level} "
                f"interval of the improvement, {improvement}, clears the margin {margin} "
                "(ChampionMargin)."
            )
        else:
            text = (
                f"It does not beat {who} by the margin {margin} (ChampionMargin) with {level} "
                f"confidence: the interval of the improvement is {improvement}."
            )
        checks.append(
            {"rule": "champion", "passed": bool(decision.get("beats_champion")), "text": text}
        )
    return checks


# -- conditions -------------------------------------------------------------------------


def describe_uri(uri: str, known: KnownModels | None = None) -> str:
    """An S3 URI by what it is, not its 150 characters."""
    model = (known or {}).get(uri)
    if model and model.get("version") is not None:
        group = f" of {model['group']}" if model.get("group") else ""
        return f"{uri.rsplit('/', 1)[-1]}, already version {model['version']}{group}"
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    found = _EXECUTION_IN_URI.search(uri)
    if found:
        return f"{name} written by execution {found.group(1)}"
    return f"…/{name}" if "/" in uri.removeprefix("s3://") else uri


def _version(version: Any, known: KnownModels | None) -> str:
    """ "version 3 of <group>", the group taken from the registered models this page knows."""
    group = next(
        (m.get("group") for m in (known or {}).values() if str(m.get("version")) == str(version)),
        None,
    )
    return f"version {version}" + (f" of {group}" if group else "")


def _value(value: Any, known: KnownModels | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value.startswith("s3://"):
            return describe_uri(value, known)
        return f'"{value}"'
    return format_number(value)


def _operand_name(label: str, value: Any, steps: Iterable[str]) -> str:
    """What an operand is, from the engine's label ("<reference> <value>")."""
    shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
    reference = label[: -len(shown)].strip() if label.endswith(shown) else label
    if not reference:
        return ""
    head, _, rest = reference.partition(".")
    if head in set(steps):
        if rest == "ModelArtifacts.S3ModelArtifacts":
            return f"the model {head} trained"
        if rest == "RegisteredVersion":
            return _REGISTERED_VERSION
        if rest == "ClaimedBy":
            return _CLAIM_HOLDER
        return f"{head}'s {rest}"
    if head == "Execution":
        return "this execution" if rest == "PipelineExecutionArn" else f"the execution's {rest}"
    match = re.fullmatch(r"\w+_metrics\.(\w+)\.value", reference)
    if match:
        return f"the test {metric_words(match.group(1))}"
    if "." in reference:
        return f"the evaluation's {reference}"
    return f"parameter {reference}"


def _comparison(
    evaluation: Mapping[str, Any], held: bool, steps: Iterable[str], known: KnownModels | None
) -> str:
    steps = list(steps)
    left_value, right_value = evaluation.get("LeftValue"), evaluation.get("RightValue")
    left = _operand_name(str(evaluation.get("LeftLabel", "")), left_value, steps)
    right = _operand_name(str(evaluation.get("RightLabel", "")), right_value, steps)
    kind = evaluation.get("Type")
    if kind == "Equals" and not held and right_value == "none" and left == _REGISTERED_VERSION:
        return f"this very model (the same files) is already {_version(left_value, known)}"
    if kind == "Equals" and not held and left == _CLAIM_HOLDER:
        if left_value == "none":
            return ""  # a version holds the files: the sentence about it says all
        return (
            f"execution {_execution_id(left_value)} holds the claim to register this very "
            "model (the same files) and was still running: it registers the model, or, if it "
            "ends without, a later run does"
        )
    if kind == "Equals" and held and left_value == right_value:
        subject = left or _value(left_value, known)
        if right:
            return f"{subject} is the same as {right}: {_value(left_value, known)}"
        return f"{subject} is {_value(left_value, known)}"
    words = _COMPARISON_WORDS.get(str(kind), str(kind))
    left_text = f"{left} ({_value(left_value, known)})" if left else _value(left_value, known)
    right_text = f"{right} ({_value(right_value, known)})" if right else _value(right_value, known)
    return f"{left_text} is {'' if held else 'not '}{words} {right_text}"


def condition_sentences(
    evaluations: Iterable[Mapping[str, Any]],
    steps: Iterable[str],
    known: KnownModels | None = None,
) -> list[str]:
    """Why a Condition step's test was false: one sentence per failed part."""
    steps = list(steps)
    sentences = []
    for evaluation in evaluations:
        if evaluation.get("Result"):
            continue
        kind = evaluation.get("Type")
        children = evaluation.get("Conditions") or []
        if kind == "Not" and children:
            # `not X` failed because X held: say what held.
            inner = children[0]
            if inner.get("Type") in _COMPARISON_WORDS:
                sentences.append(_comparison(inner, True, steps, known))
            else:
                sentences.append("The negated condition held.")
        elif kind in _COMPARISON_WORDS:
            sentences.append(_comparison(evaluation, False, steps, known))
        elif kind == "Or":
            sentences.append("None of its alternatives held.")
        else:
            sentences.append(f"Its {kind} test did not hold.")
    return [_sentence(text) for text in sentences if text]


def _execution_id(arn: Any) -> str:
    """A pipeline execution's id (.../execution/<id>), or a state machine execution's name."""
    text = str(arn)
    return text.rsplit("/execution/", 1)[1] if "/execution/" in text else text.rsplit(":", 1)[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cache_sentence(hits: Iterable[CacheHit]) -> str | None:
    """Which job steps reused an earlier execution's results."""
    by_source: dict[str, list[str]] = {}
    for hit in hits:
        by_source.setdefault(hit.source, []).append(hit.step)
    if not by_source:
        return None
    parts = [
        f"{_listing(names)} reused execution {source}'s" for source, names in by_source.items()
    ]
    return (
        "; ".join(parts) + " results from the cache (the same requests: same data, code and "
        "parameters)."
    )


def known_models(packages: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Model data URL -> the registered version it is (DescribeModelPackage documents), so
    an explanation can say "already version 3" instead of printing the URL."""
    known: dict[str, dict[str, Any]] = {}
    for package in packages:
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
        for container in containers:
            url = container.get("ModelDataUrl")
            if url and url not in known:
                known[url] = {
                    "version": package.get("ModelPackageVersion"),
                    "group": package.get("ModelPackageGroupName"),
                }
    return known


def held_back_by(
    decision: Mapping[str, Any],
    registered: bool,
    succeeded: bool,
    conditions: Sequence[dict[str, Any]],
) -> list[dict[str, Any]] | None:
    """The Condition steps ({"step", "Outcome", "Summary"}) that kept a model the evaluation
    wanted registered out of a succeeded execution's registry (a rerun reusing a model that
    already is the newest version); None when nothing was held back."""
    if registered or not succeeded or not decision.get("register"):
        return None
    return [c for c in conditions if c.get("Outcome") == "False"]


# -- the outcome ------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedStep:
    name: str
    type: str
    display_name: str = ""
    reason: str | None = None  # the step's failure reason (a Fail step's: its message)
    attempts: int = 0


@dataclass(frozen=True)
class Registration:
    """What the RegisterModel step left: the version, or the version that already held the
    model (`already_registered`: the registry's words why nothing new was registered)."""

    group: str | None
    version: Any
    approval_status: str | None = None
    arn: str | None = None
    already_registered: str | None = None


@dataclass(frozen=True)
class HeldBack:
    """A Condition step that did not hold and so kept the model out of the registry."""

    step: str
    evaluations: tuple[Mapping[str, Any], ...] = ()
    rule: str = ""  # the step's Description


@dataclass(frozen=True)
class CacheHit:
    step: str
    source: str  # the execution whose result the step reused


@dataclass(frozen=True)
class OutcomeFacts:
    """What the outcome is computed from, whoever collected it."""

    status: str
    steps: tuple[str, ...]  # every step's name, in the definition's order
    finished: int = 0  # how many steps reached a terminal status
    failure_reason: str | None = None  # the execution's
    failed: tuple[FailedStep, ...] = ()  # in the definition's order
    decision: Mapping[str, Any] | None = None  # evaluation.json's "decision" block
    registration: Registration | None = None
    held_back: tuple[HeldBack, ...] = ()
    cache_hits: tuple[CacheHit, ...] = ()
    drift: Mapping[str, Any] | None = None  # pipelines.app.drift_report.describe's answer
    known: KnownModels = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """`state` one of RUNNING, REGISTERED, ALREADY_REGISTERED, STOPPED, REJECTED, FAILED,
    HELD_BACK, NO_DRIFT, SUCCEEDED; `title` one line; `details` whole sentences."""

    state: str
    title: str
    details: tuple[str, ...] = ()


RUNNING_STATE = "running"
REGISTERED = "registered"
ALREADY_REGISTERED = "already_registered"
STOPPED = "stopped"
REJECTED = "rejected"
FAILED = "failed"
HELD_BACK = "held_back"
NO_DRIFT = "no_drift"
SUCCEEDED = "succeeded"


def _gate_reason(decision: Mapping[str, Any]) -> list[str]:
    """The evaluation's own one-line reason: it names what the checks cannot (a metric
    undefined on the split, a challenger that is the champion's own model, a tie)."""
    reason = decision.get("reason")
    return [_sentence(f"The evaluation's reason: {reason}")] if reason else []


def outcome(facts: OutcomeFacts) -> Outcome:
    """What happened to the model, in words."""
    decision = facts.decision or {}
    checks = decision_checks(decision)
    failing = [c["text"] for c in checks if c["passed"] is False]
    if facts.status in RUNNING:
        return Outcome(
            RUNNING_STATE, f"Running: {facts.finished} of {len(facts.steps)} steps finished"
        )
    model = facts.registration
    if model and model.already_registered:
        return Outcome(
            ALREADY_REGISTERED,
            f"Not registered again: version {model.version} of {model.group} already holds "
            "this model",
            (_sentence(model.already_registered), *_gate_reason(decision)),
        )
    if model:
        approval = f" ({model.approval_status})" if model.approval_status else ""
        return Outcome(
            REGISTERED,
            f"Registered: {model.group} version {model.version}{approval}",
            (*(c["text"] for c in checks if c["passed"]), *_gate_reason(decision)),
        )
    if facts.status == ExecutionStatus.STOPPED:
        return Outcome(
            STOPPED,
            "Stopped before it finished: nothing was registered",
            (facts.failure_reason or "The execution was stopped.",),
        )
    if facts.status == ExecutionStatus.FAILED and facts.failed:
        first = facts.failed[0]
        if first.type == "Fail" and decision and not decision.get("register"):
            return Outcome(
                REJECTED,
                "Not registered: the model did not pass the quality gate",
                (*(failing or [first.reason or ""]), *_gate_reason(decision)),
            )
        label = first.name + (f" ({first.display_name})" if first.display_name else "")
        details = [first.reason or "No reason recorded."]
        if first.attempts > 1:
            details.append(
                f"It failed after {first.attempts} attempts; each attempt's reason is in the "
                "step's details."
            )
        return Outcome(FAILED, f"Failed: step {label} failed", tuple(details))
    if facts.status == ExecutionStatus.FAILED:
        return Outcome(FAILED, "Failed", (facts.failure_reason or "No reason recorded.",))
    if facts.held_back:
        details = []
        for condition in facts.held_back:
            details += condition_sentences(condition.evaluations, facts.steps, facts.known)
        cache = _cache_sentence(facts.cache_hits)
        if cache:
            details.append(cache)
        details += [f"{c.step}'s rule: {c.rule}" for c in facts.held_back if c.rule]
        details += _gate_reason(decision)
        who = _listing([c.step for c in facts.held_back])
        return Outcome(
            HELD_BACK,
            f"Not registered: the model passed the quality gate, but {who} held it back",
            tuple(details),
        )
    drift = facts.drift or {}
    if facts.status == ExecutionStatus.SUCCEEDED and drift and not drift.get("retrain"):
        return Outcome(
            NO_DRIFT,
            "No drift: training skipped, nothing registered",
            (
                drift["why"][:1].upper() + drift["why"][1:] + ".",
                "Rerun with ForceRetrain=true to retrain anyway.",
            ),
        )
    if decision and not decision.get("register"):
        return Outcome(
            REJECTED,
            "Not registered: "
            + (failing[0].rstrip(".") if failing else "the evaluation decided against it"),
            (*failing[1:], *_gate_reason(decision)),
        )
    return Outcome(SUCCEEDED, "Succeeded")
