"""The orchestration comparison of one local execution (the `cost` command): both state
machines generated from this configuration and walked along the execution's path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipelines.config import ConfigError, ProjectConfig
from pipelines.definition_cache import load_definition
from pipelines.orchestrators import paths, stepfunctions, translate
from pipelines.settings.orchestrator import load_orchestrator
from pipelines.view.cost import orchestration_prices, orchestration_report

JOB_TYPES = ("Processing", "Training")


def outcome(execution: Mapping[str, Any], steps: list[Mapping[str, Any]]) -> str:
    """failed | deployed | registered | held_back, as the wrapper machine would branch."""
    if execution["status"] != "Succeeded":
        return "failed"
    for step in steps:
        if step["type"] == "RegisterModel" and step["status"] == "Succeeded":
            package = step.get("model_package") or {}
            return "deployed" if package.get("approval_status") == "Approved" else "registered"
    return "held_back"


def _taken(condition: Mapping[str, Any] | None) -> bool | None:
    if not condition:
        return None
    value = condition.get("outcome")
    return value if isinstance(value, bool) else str(value).lower() == "true"


def compare(config: ProjectConfig, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    execution, steps = document["execution"], document["steps"]
    target = config.target("local")
    definition = json.loads(load_definition(config, "local")[0])
    settings = load_orchestrator(config, target)
    seconds = execution.get("duration") or 0.0
    given = bool(execution.get("parameters"))
    wrapper = stepfunctions.state_machine(config, target, definition)
    translated = translate.translate(definition, config, target)
    ran = {
        s["name"]
        for s in steps
        if s["type"] in JOB_TYPES and s["status"] in ("Succeeded", "Failed") and not s["cache_hit"]
    }
    failed = next(
        (s["name"] for s in steps if s["type"] in JOB_TYPES and s["status"] == "Failed"), None
    )
    conditions = {
        s["name"]: taken
        for s in steps
        if s["type"] == "Condition" and (taken := _taken(s.get("condition"))) is not None
    }
    transitions = {
        "pipeline": len(
            paths.wrapper_path(
                wrapper, outcome(execution, steps), seconds, settings.poll_seconds, given
            )
        ),
        "definition": len(paths.translated_path(translated, ran, conditions, failed, given)),
    }
    try:
        prices = orchestration_prices(config.extra.get("pricing", {}).get("orchestration"))
    except ValueError as exc:
        raise ConfigError(f"{config.path}: {exc}") from exc
    return orchestration_report(
        seconds=seconds,
        jobs_total=document["cost"]["total"],
        transitions=transitions,
        prices=prices,
        mwaa_class=settings.mwaa_environment_class,
    )
