"""The pipeline definition JSON translated into a Standard state machine that runs the jobs
itself, step for step:

- Processing step -> `sagemaker:createProcessingJob.sync`
- Training step -> `sagemaker:createTrainingJob.sync`
- Lambda step -> `lambda:invoke` (the Payload's fields are the output parameters)
- Condition step -> Choice (an And of its conditions; Or, Not and In as theirs): If -> Next,
  Else -> Default; an empty branch beside one that trains ends as "skipped" (no drift)
- PropertyFile + `Std:JsonGet` -> `aws-sdk:s3:getObject`, `States.StringToJson`, a JSONPath
- Fail step -> Fail with `CausePath` (after an SNS notification)
- RegisterModel step -> `aws-sdk:sagemaker:createModelPackage`
- retry policies -> Retry with the same interval, backoff rate and attempts
- `Get` of parameters and step properties -> JSONPath into the state
- `Std:Join` -> `States.Format`
- parameters -> `States.JsonMerge` of the input's `parameters` over the defaults
- independent steps -> a Parallel state
- step caching -> the idempotency check below

What ASL cannot express, and what stands in:

- **Reading a property file** needs a Task: ASL has no S3 access of its own. The file is read
  with the S3 GetObject SDK integration (a Lambda would do too, at one more resource).
- **Step caching** does not exist in Step Functions. Each job gets the check the exam guides
  teach, *skip a job whose output for this input already exists*: the job's request (without
  its output locations) is hashed (`States.Hash`, MD5: 32 hex digits), the job writes under
  that fingerprint where the pipeline writes under the execution id, and a marker object
  `<s3_prefix>/stepfunctions/jobs/<step>/<fingerprint>.json` holding the job's result is
  written after it succeeds. A later execution whose request hashes the same finds the marker
  and reuses the result without starting a job. Unlike SageMaker's cache there is no expiry
  (delete markers to force a rerun) and the whole request counts, instance type included.
- **Job retry policies** for `SageMaker.CAPACITY_ERROR` and `SageMaker.JOB_INTERNAL_ERROR`
  have no equivalent: a `.sync` job that fails reports `States.TaskFailed` whatever the
  reason, and ErrorEquals cannot look at the cause. `SageMaker.RESOURCE_LIMIT` (refused at
  creation) becomes a Retry on `SageMaker.ResourceLimitExceededException`; `Step.THROTTLING`
  and `Step.SERVICE_FAULT` become Retries on the integration's transient errors.
- **Execution variables**: `PipelineExecutionId` is `$$.Execution.Name` (the fingerprint in a
  job's own output locations), `PipelineExecutionArn` is `$$.Execution.Id` (the state
  machine's execution) copied to `$.run.executionArn` at the start, so that a Choice rule
  can compare with it as with any state path (moto's ASL interpreter does not read a `$$`
  path in a Choice rule), `PipelineName` the pipeline's name, `StartDateTime` is
  `$$.Execution.StartTime`.
- **Condition operands of different types** fail a SageMaker condition step; a Choice rule
  whose Variable has another type than the comparison is simply false (the Else branch).
- **Join** becomes `States.Format`, whose literals may not contain braces: a definition with
  one is refused (TranslationError), as is any shape not listed above.

Job names are `<step>-<UUID>`: a failed job's name cannot be reused, and the UUID is drawn
again on every retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.arns import arn, name_arns
from pipelines.config import ProjectConfig, Target
from pipelines.orchestrators.asl import (
    LAMBDA_INVOKE,
    NO_SUCH_KEY_ERROR,
    RESOURCE_LIMIT_ERROR,
    S3_SDK,
    SAGEMAKER_SDK,
    catch_all,
    literal,
    notify_state,
    quoted,
    retry,
)
from pipelines.settings.orchestrator import load_orchestrator

NOTIFY_ERROR = "NotifyError"
JOB_RESOURCES = {
    "Processing": "arn:aws:states:::sagemaker:createProcessingJob.sync",
    "Training": "arn:aws:states:::sagemaker:createTrainingJob.sync",
}
JOB_NAME_FIELDS = {"Processing": "ProcessingJobName", "Training": "TrainingJobName"}
# Where a job writes: left out of its fingerprint (it holds the fingerprint).
OUTPUT_FIELDS = {"Processing": "ProcessingOutputConfig", "Training": "OutputDataConfig"}
JOB_RESULTS = {
    "Processing": {
        "ProcessingJobName.$": "$.ProcessingJobName",
        "ProcessingJobArn.$": "$.ProcessingJobArn",
    },
    "Training": {
        "TrainingJobName.$": "$.TrainingJobName",
        "TrainingJobArn.$": "$.TrainingJobArn",
        "ModelArtifacts": {"S3ModelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts"},
    },
}
COMPARISONS = {
    "Equals": "Equals",
    "GreaterThan": "GreaterThan",
    "GreaterThanOrEqualTo": "GreaterThanEquals",
    "LessThan": "LessThan",
    "LessThanOrEqualTo": "LessThanEquals",
}
FLIPPED = {
    "Equals": "Equals",
    "GreaterThan": "LessThan",
    "GreaterThanOrEqualTo": "LessThanOrEqualTo",
    "LessThan": "GreaterThan",
    "LessThanOrEqualTo": "GreaterThanOrEqualTo",
}
_OUTPUT_PARAMETER = re.compile(r"^Steps\.([^.]+)\.OutputParameters\['([^']+)'\]$")
_PROCESSING_OUTPUT = re.compile(
    r"^Steps\.([^.]+)\.ProcessingOutputConfig\.Outputs\['([^']+)'\]\.S3Output\.S3Uri$"
)
_PROPERTY_FILE = re.compile(r"^Steps\.([^.]+)\.PropertyFiles\.([^.]+)$")
_STEP_REFERENCE = re.compile(r"^Steps\.([^.\[]+)")


class TranslationError(ValueError):
    """A definition shape this translation does not handle; the message names the step."""


@dataclass(frozen=True)
class Ref:
    """A translated value: a literal, a JSONPath (`$.` or `$$.`) or an intrinsic function."""

    kind: str
    value: Any
    # "String" or "Numeric" where known (for Choice rules).
    type: str | None = None

    def argument(self) -> str:
        """As an intrinsic-function argument."""
        return literal(self.value) if self.kind == "literal" else self.value


def _walk_steps(steps: list[Mapping[str, Any]]):
    for step in steps:
        yield step
        if step["Type"] == "Condition":
            yield from _walk_steps(step["Arguments"].get("IfSteps", []))
            yield from _walk_steps(step["Arguments"].get("ElseSteps", []))


def _references(value: Any) -> set[str]:
    """The step names a value's `Get` expressions refer to."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        if isinstance(value.get("Get"), str):
            match = _STEP_REFERENCE.match(value["Get"])
            if match:
                found.add(match.group(1))
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


class Translator:
    def __init__(self, definition: Mapping[str, Any], config: ProjectConfig, target: Target):
        self.definition = definition
        self.config = config
        self.target = target
        self.topic = load_orchestrator(config, target).notification_topic_arn
        self.steps = {step["Name"]: step for step in _walk_steps(definition["Steps"])}
        self.parameters = {p["Name"]: p for p in definition.get("Parameters", [])}
        self.states: dict[str, dict[str, Any]] = {}
        self.location: dict[str, str] = {}
        self.property_files: dict[tuple[str, str], str] = {}
        self.job_scope: str | None = None

    # Expressions ------------------------------------------------------------------------

    def expr(self, value: Any) -> Ref:
        if isinstance(value, Mapping):
            if "Get" in value:
                return self.get(value["Get"])
            if "Std:Join" in value:
                return self.join(value["Std:Join"]["On"], value["Std:Join"]["Values"])
            if "Std:JsonGet" in value:
                return self.json_get(value["Std:JsonGet"])
            if "ExecutionVariable" in value or "Parameter" in value:
                raise TranslationError(f"unsupported expression {value!r}")
        return Ref("literal", value, _literal_type(value))

    def get(self, name: str) -> Ref:
        if name.startswith("Parameters."):
            parameter = name.removeprefix("Parameters.")
            if parameter not in self.parameters:
                raise TranslationError(f"Get {name}: no such parameter")
            kind = self.parameters[parameter]["Type"]
            return Ref(
                "path",
                f"$.run.parameters.{parameter}",
                "String" if kind in ("String", "Boolean") else "Numeric",
            )
        if name == "Execution.PipelineExecutionId":
            if self.job_scope:
                return Ref("path", f"$.jobs.{self.job_scope}.id.fingerprint", "String")
            return Ref("path", "$$.Execution.Name", "String")
        if name == "Execution.PipelineExecutionArn":
            return Ref("path", "$.run.executionArn", "String")
        if name == "Execution.PipelineName":
            return Ref("literal", self.config.pipeline.name, "String")
        if name == "Execution.StartDateTime":
            return Ref("path", "$$.Execution.StartTime", "String")
        if match := _OUTPUT_PARAMETER.match(name):
            step, output = match.groups()
            self._require_location(step, name)
            types = {
                o["OutputName"]: o.get("OutputType", "String")
                for o in self.steps[step].get("OutputParameters", [])
            }
            kind = "String" if types.get(output, "String") in ("String", "Boolean") else "Numeric"
            return Ref("path", f"{self.location[step]}.OutputParameters.{output}", kind)
        if match := _PROCESSING_OUTPUT.match(name):
            # The S3Uri SageMaker reports is the one the request named.
            step, output = match.groups()
            outputs = self.steps[step]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
            uri = next((o["S3Output"]["S3Uri"] for o in outputs if o["OutputName"] == output), None)
            if uri is None:
                raise TranslationError(f"Get {name}: step {step} has no output {output!r}")
            return self._in_scope(step, lambda: self.expr(uri))
        if name.startswith("Steps.") and name.endswith(".ModelArtifacts.S3ModelArtifacts"):
            step = name.split(".")[1]
            self._require_location(step, name)
            return Ref("path", f"{self.location[step]}.ModelArtifacts.S3ModelArtifacts", "String")
        raise TranslationError(f"Get {name}: not translated (no JSONPath equivalent here)")

    def join(self, on: str, values: list[Any]) -> Ref:
        parts = [self.expr(value) for value in values]
        if all(part.kind == "literal" for part in parts):
            return Ref("literal", on.join(_as_text(part.value) for part in parts), "String")
        texts = [_as_text(part.value) for part in parts if part.kind == "literal"]
        if any(char in text for text in [*texts, on] for char in "{}"):
            # States.Format would read them as placeholders; escaping them is not portable.
            raise TranslationError(f"Std:Join {values!r}: a literal contains braces")
        template = on.join(
            "{}" if part.kind != "literal" else _as_text(part.value) for part in parts
        )
        arguments = [part.argument() for part in parts if part.kind != "literal"]
        fmt = quoted(template)
        return Ref("intrinsic", f"States.Format({', '.join([fmt, *arguments])})", "String")

    def json_get(self, spec: Mapping[str, Any]) -> Ref:
        source = spec["PropertyFile"]
        match = _PROPERTY_FILE.match(source.get("Get", "")) if isinstance(source, Mapping) else None
        if not match or (match.group(1), match.group(2)) not in self.property_files:
            raise TranslationError(f"Std:JsonGet on {source!r}: not a property file read so far")
        path = spec["Path"]
        if not isinstance(path, str):
            raise TranslationError("Std:JsonGet Path must be a literal")
        base = self.property_files[(match.group(1), match.group(2))]
        return Ref("path", f"{base}.{path}" if not path.startswith("[") else base + path)

    def _require_location(self, step: str, name: str) -> None:
        if step not in self.location:
            raise TranslationError(f"Get {name}: step {step} has not run at this point")

    def _in_scope(self, step: str, build):
        previous, self.job_scope = self.job_scope, step
        try:
            return build()
        finally:
            self.job_scope = previous

    def template(self, value: Any) -> Any:
        """A request (SageMaker's Arguments) as an ASL Parameters template."""
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if _is_expression(item):
                    ref = self.expr(item)
                    if ref.kind == "literal":
                        out[key] = ref.value
                    else:
                        out[f"{key}.$"] = ref.value
                elif isinstance(item, list) and any(_is_expression(i) for i in item):
                    if any(isinstance(i, Mapping) and not _is_expression(i) for i in item):
                        out[key] = [self.template(i) for i in item]
                    else:
                        refs = [self.expr(i).argument() for i in item]
                        out[f"{key}.$"] = f"States.Array({', '.join(refs)})"
                else:
                    out[key] = self.template(item)
            return out
        if isinstance(value, list):
            return [self.template(item) for item in value]
        return value

    # Steps ------------------------------------------------------------------------------

    def chain(self, steps: list[Mapping[str, Any]], nested: bool) -> tuple[str, list[str]]:
        """States for steps run one after another; returns (first state, open ends), where an
        open end is a state whose "Next" is still to be set."""
        first, ends = None, []
        for step in steps:
            start, step_ends = self.step(step, nested)
            for end in ends:
                self.states[end]["Next"] = start
            first = first or start
            ends = step_ends
        return first, ends

    def step(self, step: Mapping[str, Any], nested: bool) -> tuple[str, list[str]]:
        kind = step["Type"]
        if kind == "Lambda":
            return self.lambda_step(step, nested)
        if kind in JOB_RESOURCES:
            return self.job_step(step, nested)
        if kind == "RegisterModel":
            return self.register_step(step, nested)
        raise TranslationError(f"step {step['Name']}: {kind} steps are not translated here")

    def task(self, name: str, resource: str, nested: bool, **fields: Any) -> dict[str, Any]:
        retries = fields.pop("Retry", None) or [retry(resource, self.config.retry)]
        catches = fields.pop("Catch", [])
        state = {"Type": "Task", "Resource": resource, **fields, "Retry": retries}
        if not nested:
            catches = [*catches, catch_all(NOTIFY_ERROR)]
        if catches:
            state["Catch"] = catches
        self.states[name] = state
        return state

    def retries(self, step: Mapping[str, Any], resource: str) -> list[dict[str, Any]]:
        """The step's retry policies as Retry entries (see the module docstring)."""
        out = []
        for policy in step.get("RetryPolicies", []):
            types = set(policy["ExceptionType"])
            settings = {
                "IntervalSeconds": max(1, int(policy.get("IntervalSeconds", 1))),
                "BackoffRate": max(1.0, float(policy.get("BackoffRate", 2.0))),
                "MaxAttempts": int(policy.get("MaxAttempts", 3)),
            }
            errors: list[str] = []
            if types & {"Step.THROTTLING", "Step.SERVICE_FAULT"}:
                errors += retry(resource, self.config.retry)["ErrorEquals"]
            if "SageMaker.RESOURCE_LIMIT" in types:
                errors.append(RESOURCE_LIMIT_ERROR)
            if errors:
                out.append({"ErrorEquals": errors, **settings})
        return out or [retry(resource, self.config.retry)]

    def lambda_step(self, step: Mapping[str, Any], nested: bool) -> tuple[str, list[str]]:
        name = step["Name"]
        self.task(
            name,
            LAMBDA_INVOKE,
            nested,
            Comment=step.get("Description", ""),
            Parameters={
                "FunctionName": step["FunctionArn"],
                "Payload": self.template(step.get("Arguments", {})),
            },
            ResultSelector={"OutputParameters.$": "$.Payload"},
            ResultPath=f"$.steps.{name}",
        )
        self.location[name] = f"$.steps.{name}"
        return name, [name]

    def job_step(self, step: Mapping[str, Any], nested: bool) -> tuple[str, list[str]]:
        name, kind = step["Name"], step["Type"]
        arguments = step["Arguments"]
        key_fields = {k: v for k, v in arguments.items() if k != OUTPUT_FIELDS[kind]}
        key = self._in_scope(name, lambda: self.template(key_fields))
        request = self._in_scope(name, lambda: self.template(arguments))
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:26] or "job"
        request[f"{JOB_NAME_FIELDS[kind]}.$"] = f"States.Format('{slug}-{{}}', States.UUID())"
        fingerprint = f"$.jobs.{name}.id.fingerprint"
        marker_key = (
            f"States.Format({quoted(self._marker_prefix(name) + '{}.json')}, {fingerprint})"
        )
        states = {
            "key": f"{name}: request key",
            "fingerprint": f"{name}: fingerprint",
            "done": f"{name}: done before?",
            "run": f"{name}: run job",
            "record": f"{name}: record result",
        }
        self.states[states["key"]] = {
            "Type": "Pass",
            "Comment": "The job's request without its output locations: what the job depends on",
            "Parameters": key,
            "ResultPath": f"$.jobs.{name}.key",
            "Next": states["fingerprint"],
        }
        self.states[states["fingerprint"]] = {
            "Type": "Pass",
            "Parameters": {
                "fingerprint.$": f"States.Hash(States.JsonToString($.jobs.{name}.key), 'MD5')"
            },
            "ResultPath": f"$.jobs.{name}.id",
            "Next": states["done"],
        }
        bucket = self.target.bucket
        self.task(
            states["done"],
            S3_SDK + "getObject",
            nested,
            Comment="Idempotency check (instead of step caching): this request's result marker",
            Parameters={"Bucket": bucket, "Key.$": marker_key},
            ResultSelector={"result.$": "States.StringToJson($.Body)"},
            ResultPath=f"$.steps.{name}",
            Catch=[
                {
                    "ErrorEquals": [NO_SUCH_KEY_ERROR],
                    "ResultPath": f"$.jobs.{name}.notDone",
                    "Next": states["run"],
                }
            ],
        )
        resource = JOB_RESOURCES[kind]
        self.task(
            states["run"],
            resource,
            nested,
            Comment=step.get("Description", ""),
            Parameters=request,
            ResultSelector={"result": JOB_RESULTS[kind]},
            ResultPath=f"$.steps.{name}",
            Retry=self.retries(step, resource),
            Next=states["record"],
        )
        self.task(
            states["record"],
            S3_SDK + "putObject",
            nested,
            Parameters={
                "Bucket": bucket,
                "Key.$": marker_key,
                "Body.$": f"States.JsonToString($.steps.{name}.result)",
                "ContentType": "application/json",
            },
            ResultPath=None,
        )
        self.location[name] = f"$.steps.{name}.result"
        ends = [states["done"], states["record"]]
        for property_file in step.get("PropertyFiles", []):
            read = self.read_property_file(step, property_file, nested)
            for end in ends:
                self.states[end]["Next"] = read
            ends = [read]
        return states["key"], ends

    def read_property_file(
        self, step: Mapping[str, Any], property_file: Mapping[str, Any], nested: bool
    ) -> str:
        name = step["Name"]
        outputs = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        uri = next(
            (
                o["S3Output"]["S3Uri"]
                for o in outputs
                if o["OutputName"] == property_file["OutputName"]
            ),
            None,
        )
        join = uri.get("Std:Join") if isinstance(uri, Mapping) else None
        values = join["Values"] if join and join["On"] == "/" else []
        if len(values) < 3 or values[0] != "s3:/" or not isinstance(values[1], str):
            raise TranslationError(
                f"step {name}: property file {property_file['PropertyFileName']} lies under "
                f"{uri!r}; its bucket must be a literal (s3://<bucket>/...) to read it with "
                "S3 GetObject (ASL has no substring function to split an S3 URI)"
            )
        key = self._in_scope(name, lambda: self.join("/", [*values[2:], property_file["FilePath"]]))
        state = f"{name}: read {property_file['PropertyFileName']}"
        self.task(
            state,
            S3_SDK + "getObject",
            nested,
            Comment=f"The property file {property_file['FilePath']} (Std:JsonGet reads it)",
            Parameters={
                "Bucket": values[1],
                ("Key" if key.kind == "literal" else "Key.$"): key.value,
            },
            ResultSelector={"json.$": "States.StringToJson($.Body)"},
            ResultPath=f"$.propertyFiles.{name}.{property_file['PropertyFileName']}",
        )
        self.property_files[(name, property_file["PropertyFileName"])] = (
            f"$.propertyFiles.{name}.{property_file['PropertyFileName']}.json"
        )
        return state

    def register_step(self, step: Mapping[str, Any], nested: bool) -> tuple[str, list[str]]:
        name = step["Name"]
        resource = SAGEMAKER_SDK + "createModelPackage"
        self.task(
            name,
            resource,
            nested,
            Comment=step.get("Description", ""),
            Parameters=self.template(step["Arguments"]),
            ResultSelector={"ModelPackageArn.$": "$.ModelPackageArn"},
            ResultPath=f"$.steps.{name}",
            Retry=self.retries(step, resource),
        )
        self.location[name] = f"$.steps.{name}"
        return name, [name]

    # Conditions ---------------------------------------------------------------------------

    def rule(self, condition: Mapping[str, Any]) -> dict[str, Any]:
        kind = condition["Type"]
        if kind == "Not":
            return {"Not": self.rule(condition["Condition"])}
        if kind in ("And", "Or"):
            return {kind: [self.rule(c) for c in condition["Conditions"]]}
        if kind == "In":
            return {
                "Or": [
                    self.rule(
                        {"Type": "Equals", "LeftValue": condition["QueryValue"], "RightValue": v}
                    )
                    for v in condition["Values"]
                ]
            }
        if kind not in COMPARISONS:
            raise TranslationError(f"condition type {kind} is not translated")
        left, right = self.expr(condition["LeftValue"]), self.expr(condition["RightValue"])
        if left.kind != "path":
            if right.kind != "path":
                raise TranslationError(
                    f"condition {condition!r}: a Choice rule needs a JSONPath on one side"
                )
            left, right, kind = right, left, FLIPPED[kind]
        if right.kind == "intrinsic":
            raise TranslationError(f"condition {condition!r}: Choice rules take no intrinsics")
        value_type = right.type or left.type or "Numeric"
        if isinstance(right.value, bool):
            value_type = "Boolean"
            if kind != "Equals":
                raise TranslationError(f"condition {condition!r}: booleans compare by Equals")
        operator = value_type + COMPARISONS[kind] + ("Path" if right.kind == "path" else "")
        return {"Variable": left.value, operator: right.value}

    def condition(self, step: Mapping[str, Any]) -> str:
        """A Choice for the condition step; its branches run to their own end states."""
        name = step["Name"]
        arguments = step["Arguments"]
        rules = [self.rule(c) for c in arguments["Conditions"]]
        if_steps, else_steps = arguments.get("IfSteps", []), arguments.get("ElseSteps", [])
        if_start = self.branch(name, "true", if_steps, else_steps)
        else_start = self.branch(name, "false", else_steps, if_steps)
        self.states[name] = {
            "Type": "Choice",
            "Comment": step.get("Description", ""),
            "Choices": [{**(rules[0] if len(rules) == 1 else {"And": rules}), "Next": if_start}],
            "Default": else_start,
        }
        return name

    def branch(
        self,
        condition: str,
        outcome: str,
        steps: list[Mapping[str, Any]],
        other: list[Mapping[str, Any]] = (),
    ) -> str:
        """The states of one condition branch; a Condition or Fail step ends it. An empty
        branch beside one that trains (CheckDrift's: no drift) ends as "skipped"."""
        body = [s for s in steps if s["Type"] not in ("Condition", "Fail")]
        last = [s for s in steps if s["Type"] in ("Condition", "Fail")]
        if len(last) > 1:
            raise TranslationError(
                f"{condition} ({outcome}): at most one Condition or Fail step per branch"
            )
        first, ends = self.chain(body, nested=False)
        if last and last[0]["Type"] == "Condition":
            end = self.condition(last[0])
        elif last:
            end = self.fail_step(last[0])
        elif not steps and any(s["Type"] == "Training" for s in _walk_steps(list(other))):
            end = self.finish(
                f"{condition} {outcome}: done",
                "skipped",
                f"training skipped ({condition} {outcome}), no model registered",
            )
        else:
            registered = any(s["Type"] == "RegisterModel" for s in body)
            end = self.finish(
                f"{condition} {outcome}: done",
                "registered" if registered else "held_back",
                "new model registered" if registered else "no model registered",
            )
        for state in ends:
            self.states[state]["Next"] = end
        return first or end

    def fail_step(self, step: Mapping[str, Any]) -> str:
        name = step["Name"]
        message = self.expr(step["Arguments"].get("ErrorMessage", ""))
        fail: dict[str, Any] = {
            "Type": "Fail",
            "Comment": step.get("Description", ""),
            "Error": name,
        }
        if message.kind == "literal":
            fail["Cause"] = str(message.value)
        else:
            fail["CausePath"] = message.value
        self.states[name] = fail
        notify = f"Notify {name}"
        self.states[notify] = self._notify("failed", f"failed at {name}", name)
        return notify

    def finish(self, name: str, outcome: str, subject: str) -> str:
        done = f"{name} (end)"
        self.states[done] = {"Type": "Succeed"}
        self.states[name] = self._notify(outcome, subject, done)
        return name

    def _notify(self, outcome: str, subject: str, next_state: str) -> dict[str, Any]:
        on_error = "OrchestrationFailed" if outcome == "error" else NOTIFY_ERROR
        return notify_state(
            self.topic,
            self.config.pipeline.name,
            outcome,
            subject,
            next_state,
            self.config.retry,
            on_error,
        )

    def _marker_prefix(self, step: str) -> str:
        return f"{self.config.pipeline.s3_prefix}/stepfunctions/jobs/{step}/"

    # The machine --------------------------------------------------------------------------

    def levels(self) -> list[list[Mapping[str, Any]]]:
        """Top-level steps in dependency order, independent ones side by side."""
        top = {step["Name"]: step for step in self.definition["Steps"]}
        depends = {
            name: (_references(step.get("Arguments", {})) | set(step.get("DependsOn", [])))
            & set(top)
            for name, step in top.items()
        }
        for name, step in top.items():
            if step["Type"] == "Condition":
                inner = _references(step["Arguments"].get("Conditions", []))
                for nested in _walk_steps(step["Arguments"].get("IfSteps", [])):
                    inner |= _references(nested.get("Arguments", {}))
                for nested in _walk_steps(step["Arguments"].get("ElseSteps", [])):
                    inner |= _references(nested.get("Arguments", {}))
                depends[name] |= inner & set(top)
        levels, done = [], set()
        while len(done) < len(top):
            ready = [n for n in top if n not in done and depends[n] <= done]
            if not ready:
                raise TranslationError("the steps' dependencies form a cycle")
            levels.append([top[n] for n in ready])
            done |= set(ready)
        return levels

    def build(self) -> dict[str, Any]:
        defaults = {name: p.get("DefaultValue") for name, p in self.parameters.items()}
        self.states["Parameters"] = {
            "Type": "Pass",
            "Comment": 'Input: {"parameters": {"Name": value, ...}}, optional; typed values',
            "Result": defaults,
            "ResultPath": "$.defaults",
            "Next": "Parameters given?",
        }
        self.states["Parameters given?"] = {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.parameters", "IsPresent": True, "Next": "Merge parameters"}
            ],
            "Default": "Default parameters",
        }
        self.states["Merge parameters"] = {
            "Type": "Pass",
            "Parameters": {
                "parameters.$": "States.JsonMerge($.defaults, $.parameters, false)",
                "executionArn.$": "$$.Execution.Id",
            },
            "ResultPath": "$.run",
        }
        self.states["Default parameters"] = {
            "Type": "Pass",
            "Parameters": {"parameters.$": "$.defaults", "executionArn.$": "$$.Execution.Id"},
            "ResultPath": "$.run",
        }
        ends = ["Merge parameters", "Default parameters"]
        levels = self.levels()
        for index, level in enumerate(levels):
            conditions = [s for s in level if s["Type"] in ("Condition", "Fail")]
            if conditions:
                if len(level) > 1 or index != len(levels) - 1:
                    raise TranslationError(
                        f"{conditions[0]['Name']}: a Condition or Fail step must be the last step "
                        "at the top level"
                    )
                start = (
                    self.condition(level[0])
                    if level[0]["Type"] == "Condition"
                    else self.fail_step(level[0])
                )
                new_ends: list[str] = []
            elif len(level) == 1:
                start, new_ends = self.step(level[0], nested=False)
            else:
                start = self.parallel(index, level)
                new_ends = [start]
            for end in ends:
                self.states[end]["Next"] = start
            ends = new_ends
        if ends:
            done = self.finish("Pipeline done", "succeeded", "pipeline succeeded")
            for end in ends:
                self.states[end]["Next"] = done
        self.states[NOTIFY_ERROR] = self._notify(
            "error", "orchestration error", "OrchestrationFailed"
        )
        self.states["OrchestrationFailed"] = {
            "Type": "Fail",
            "Error": "OrchestrationFailed",
            "CausePath": "$.error.Cause",
        }
        return {
            "Comment": (
                f"The SageMaker pipeline {self.config.pipeline.name}'s definition run by Step "
                "Functions: jobs as .sync integrations, conditions as Choice, an idempotency "
                "check per job instead of step caching. Generated by run_pipeline.py export "
                "stepfunctions --form definition."
            ),
            "StartAt": "Parameters",
            "States": self.states,
        }

    def parallel(self, index: int, level: list[Mapping[str, Any]]) -> str:
        """Independent steps as the branches of a Parallel state."""
        name = "Run " + " + ".join(step["Name"] for step in level)
        outer_states, branches, selector = self.states, [], {}
        for position, step in enumerate(level):
            if step.get("PropertyFiles"):
                raise TranslationError(f"{step['Name']}: property files inside Parallel branches")
            self.states = {}
            start, ends = self.step(step, nested=True)
            for end in ends:
                self.states[end].pop("Next", None)
                self.states[end]["End"] = True
            branches.append({"StartAt": start, "States": self.states})
            selector[f"{step['Name']}.$"] = f"$[{position}].steps.{step['Name']}"
            inner = self.location[step["Name"]]
            self.location[step["Name"]] = f"$.levels.L{index}.{step['Name']}" + inner.removeprefix(
                f"$.steps.{step['Name']}"
            )
        self.states = outer_states
        self.states[name] = {
            "Type": "Parallel",
            "Branches": branches,
            "ResultSelector": selector,
            "ResultPath": f"$.levels.L{index}",
            "Catch": [catch_all(NOTIFY_ERROR)],
        }
        return name


def _is_expression(value: Any) -> bool:
    return isinstance(value, Mapping) and bool({"Get", "Std:Join", "Std:JsonGet"} & set(value))


def _literal_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Numeric"
    if isinstance(value, str):
        return "String"
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def translate(
    definition: Mapping[str, Any], config: ProjectConfig, target: Target
) -> dict[str, Any]:
    """The Standard state machine that runs `definition`'s steps itself."""
    return Translator(definition, config, target).build()


def iam_statements(
    config: ProjectConfig, target: Target, definition: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The execution role's statements for the translated machine, least privilege: the jobs
    (and the EventBridge rules Step Functions manages for `.sync` SageMaker jobs), the
    project's Lambda functions, model registration, its S3 markers and property files, SNS."""
    region, account = target.region, target.account_id
    steps = list(_walk_steps(definition["Steps"]))
    functions = sorted({s["FunctionArn"] for s in steps if s["Type"] == "Lambda"})
    slugs = sorted(
        re.sub(r"[^a-z0-9]+", "-", s["Name"].lower()).strip("-")[:26]
        for s in steps
        if s["Type"] in JOB_RESOURCES
    )
    group = config.pipeline.model_package_group
    return [
        {
            "Sid": "RunJobs",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
            ],
            "Resource": [
                arn("sagemaker", region, account, f"{kind}/{slug}-*")
                for slug in slugs
                for kind in ("processing-job", "training-job")
            ],
        },
        {
            "Sid": "SyncJobEvents",
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": [
                arn("events", region, account, f"rule/StepFunctionsGetEventsForSageMaker{kind}Rule")
                for kind in ("TrainingJobs", "ProcessingJobs")
            ],
        },
        {
            "Sid": "InvokeLambdaSteps",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": functions,
        },
        {
            "Sid": "RegisterModels",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateModelPackage"],
            "Resource": sorted(
                name_arns(region, account, "model-package-group", group)
                + name_arns(region, account, "model-package", group, "*")
            ),
        },
        {
            "Sid": "MarkersAndPropertyFiles",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": arn(
                "s3", region, "", f"{target.bucket}/{config.pipeline.s3_prefix}/*", regional=False
            ),
        },
        {
            "Sid": "PassTheJobRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": target.role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": load_orchestrator(config, target).notification_topic_arn,
        },
    ]
