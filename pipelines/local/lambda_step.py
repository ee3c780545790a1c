"""Lambda steps: the project's function code, run as a subprocess like Lambda would run it.

The function is found by the name in the step's FunctionArn among the functions the
project declares (`Engine.lambda_functions`); a step naming any other function fails with
a clear reason, as it would on AWS with a function that does not exist. Its SageMaker calls
reach the local registry through `LocalSageMakerApi`; every other AWS endpoint points there
too, so a function can never touch a real account from a local run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pipelines.local.executor import run_command
from pipelines.local.sagemaker_api import LocalSageMakerApi

TIMEOUT_SECONDS = 120.0  # the SDK's default Lambda timeout
_OUTPUT_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}

# Loads the function file as Lambda's Python runtime does (by path, not as part of a
# package), calls handler(event, context) and leaves the JSON result in a file.
_BOOTSTRAP = """
import importlib.util, json, sys, types
path, handler_name, event_file, result_file, function_name = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("lambda_function", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
context = types.SimpleNamespace(
    function_name=function_name, aws_request_id="local", get_remaining_time_in_millis=lambda: 0
)
with open(event_file, encoding="utf-8") as handle:
    event = json.load(handle)
result = getattr(module, handler_name)(event, context)
with open(result_file, "w", encoding="utf-8") as handle:
    json.dump(result, handle)
"""


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
    registry: Any,
    job_dir: Path,
    region: str,
    cancel: Any,
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
    job_dir.mkdir(parents=True, exist_ok=True)
    event_file, result_file = job_dir / "event.json", job_dir / "result.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    result_file.unlink(missing_ok=True)
    with LocalSageMakerApi(registry) as api:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=api.url,
            AWS_ENDPOINT_URL_SAGEMAKER=api.url,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=region,
            AWS_REGION=region,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_LAMBDA_FUNCTION_NAME=name,
        )
        code, timed_out, logs = run_command(
            [sys.executable, "-c", _BOOTSTRAP, str(source), "handler", str(event_file),
             str(result_file), name],
            cwd=source.parent,
            env=env,
            log_dir=job_dir / "logs",
            timeout=TIMEOUT_SECONDS,
            cancel=cancel,
        )  # fmt: skip
    if timed_out:
        raise LambdaStepError(f"Task timed out after {TIMEOUT_SECONDS:g} seconds ({name})")
    if code != 0 or not result_file.is_file():
        tail = Path(logs[1]).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        raise LambdaStepError(f"function {name} failed: {tail[-1] if tail else f'exit {code}'}")
    return _outputs(name, json.loads(result_file.read_text(encoding="utf-8")), outputs), logs


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
