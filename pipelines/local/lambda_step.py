"""Lambda steps: the project's function code, run as Lambda would run it.

The function is found by the name in the step's FunctionArn among the functions the
project declares (`Engine.lambda_functions`); a step naming any other function fails with
a clear reason, as it would on AWS with a function that does not exist. `lambda_runtime`
runs it in an execution environment (warm across runs, as Lambda keeps them) whose
SageMaker calls reach the local registry and whose S3 calls reach the local artifact store;
every other AWS endpoint points there too, so a function can never touch a real account from
a local run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pipelines.local.lambda_runtime import Invocation, LambdaRuntime, LambdaRuntimeError

TIMEOUT_SECONDS = 120.0  # the SDK's default Lambda timeout
_OUTPUT_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}


class LambdaStepError(RuntimeError):
    """The function is unknown, failed, or returned something the step cannot use."""


def function_name(arn: str) -> str:
    """arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>] -> name."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
        raise LambdaStepError(f"FunctionArn {arn!r} is not a Lambda function ARN")
    return parts[6]


def invoke(
    *,
    arn: str,
    event: dict[str, Any],
    outputs: list[dict[str, str]],
    functions: dict[str, Path],
    runtime: LambdaRuntime,
    state_db: Path,
    job_dir: Path,
    region: str,
    cancel: threading.Event,
    store_root: Path | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Run the function; returns (OutputParameters by name, log paths)."""
    name = function_name(arn)
    source = functions.get(name)
    if source is None:
        known = ", ".join(sorted(functions)) or "none"
        raise LambdaStepError(
            f"ResourceNotFoundException: Function not found: {arn} (local functions: {known})"
        )
    if not source.is_file():
        raise LambdaStepError(f"the code of Lambda function {name} is missing: {source}")
    invocation = Invocation(
        function_name=name,
        source=source,
        event=event,
        state_db=state_db,
        region=region,
        log_dir=job_dir / "logs",
        timeout=TIMEOUT_SECONDS,
        store_root=store_root,
    )
    try:
        result, logs = runtime.invoke(invocation, cancel)
    except LambdaRuntimeError as exc:
        raise LambdaStepError(str(exc)) from None
    return _outputs(name, result, outputs), logs


def _outputs(name: str, result: Any, declared: list[dict[str, str]]) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise LambdaStepError(f"function {name} returned {type(result).__name__}, not an object")
    values = {}
    for spec in declared:
        output, kind = spec["OutputName"], spec.get("OutputType", "String")
        if output not in result:
            raise LambdaStepError(f"function {name} returned no output parameter {output!r}")
        value = result[output]
        expected = _OUTPUT_TYPES.get(kind, str)
        if expected is str:
            value = str(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise LambdaStepError(
                f"function {name}: output {output!r} should be {kind}, got {value!r}"
            )
        values[output] = value
    return values
