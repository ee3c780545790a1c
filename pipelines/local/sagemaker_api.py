"""The local registry behind the SageMaker API (and the artifact store behind S3's), for
code that calls boto3 itself.

A Lambda step runs the project's real function code, which asks `boto3.client("sagemaker")`
for model packages. Pointing `AWS_ENDPOINT_URL_SAGEMAKER` at this server makes the local
registry answer those calls in SageMaker's own wire format (JSON 1.1, `X-Amz-Target`), so
the function runs unchanged. Only the read-only registry operations are served, and
DescribePipelineExecution for the local executions in the state database (a registration
claim names the execution that holds it; the function asks whether it still runs). Given a
store, the same server answers S3's REST requests (`s3_api`): a request without an
`X-Amz-Target` header is an S3 one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipelines.local.registry import ModelRegistry, RegistryError
from pipelines.local.s3_api import S3Api
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

_TIMESTAMPS = ("CreationTime", "LastModifiedTime")
_SUMMARY_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
)


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _epoch(document: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as epoch seconds, the JSON protocol's wire format."""
    out = dict(document)
    for key in _TIMESTAMPS:
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key]).timestamp()
    return out


class RegistryApi:
    """The SageMaker operations the project's functions use, answered by the registry."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ListModelPackages": self.list_model_packages,
            "DescribeModelPackage": self.describe_model_package,
            "ListModelPackageGroups": self.list_model_package_groups,
            "DescribeModelPackageGroup": self.describe_model_package_group,
            "DescribePipelineExecution": self.describe_pipeline_execution,
        }

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise ApiError(
                "UnknownOperationException",
                f"the local SageMaker API serves {', '.join(sorted(self.operations))} only, "
                f"not {operation}",
            )
        try:
            return handler(request)
        except RegistryError as exc:
            raise ApiError("ValidationException", str(exc)) from None

    def list_model_packages(self, request: dict[str, Any]) -> dict[str, Any]:
        group = request.get("ModelPackageGroupName")
        if group:
            self.registry.describe_group(group)  # a missing group is an error, as on AWS
        packages = self.registry.list(group, request.get("ModelApprovalStatus"))
        sort_key = request.get("SortBy", "CreationTime")
        if sort_key == "Name":
            packages.sort(key=lambda p: (p["ModelPackageGroupName"], p["ModelPackageVersion"]))
        else:
            packages.sort(key=lambda p: (p["CreationTime"], p["ModelPackageVersion"]))
        if request.get("SortOrder", "Ascending") == "Descending":
            packages.reverse()
        limit = int(request.get("MaxResults") or 100)
        start = _page_start(request.get("NextToken"))
        page = packages[start : start + limit]
        summaries = [_epoch({k: p[k] for k in _SUMMARY_FIELDS if k in p}) for p in page]
        response: dict[str, Any] = {"ModelPackageSummaryList": summaries}
        if start + limit < len(packages):
            response["NextToken"] = str(start + limit)
        return response

    def describe_model_package(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("ModelPackageName") or ""
        return _epoch(self.registry.describe(name))

    def list_model_package_groups(self, request: dict[str, Any]) -> dict[str, Any]:
        contains = request.get("NameContains") or ""
        groups = [
            _epoch(g) for g in self.registry.list_groups() if contains in g["ModelPackageGroupName"]
        ]
        return {"ModelPackageGroupSummaryList": groups}

    def describe_model_package_group(self, request: dict[str, Any]) -> dict[str, Any]:
        return _epoch(self.registry.describe_group(request.get("ModelPackageGroupName") or ""))

    def describe_pipeline_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        arn = request.get("PipelineExecutionArn") or ""
        # Opened afresh, as every command that reads state opens it: an execution whose engine
        # is gone (killed) is marked Failed first, never reported Executing.
        state = State(self.registry.state.path)
        try:
            record = state.find_execution(arn)
        except LookupError:
            record = None
        finally:
            state.close()
        if record is None or record.execution_arn != arn:
            raise ApiError("ResourceNotFound", f"pipeline execution {arn!r} does not exist locally")
        described: dict[str, Any] = {
            "PipelineArn": record.pipeline_arn,
            "PipelineExecutionArn": record.execution_arn,
            "PipelineExecutionDisplayName": record.execution_id,
            "PipelineExecutionStatus": record.status,
            "CreationTime": record.start_time,
            "LastModifiedTime": record.end_time or record.start_time,
        }
        if record.failure_reason:
            described["FailureReason"] = record.failure_reason
        return described


def _page_start(token: Any) -> int:
    """NextToken is the offset of the next page (opaque to callers, as on AWS)."""
    if token in (None, ""):
        return 0
    try:
        return max(0, int(token))
    except (TypeError, ValueError):
        raise ApiError("ValidationException", f"invalid NextToken {token!r}") from None


class LocalSageMakerApi:
    """An HTTP server on 127.0.0.1 for the duration of a `with` block; `.url` to reach it."""

    def __init__(self, registry: ModelRegistry, store: ArtifactStore | None = None) -> None:
        api = RegistryApi(registry)
        s3 = S3Api(store) if store is not None else None

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1: botocore sends PutObject with "Expect: 100-continue" and waits a
            # second for the interim answer, which only HTTP/1.1 handlers give.
            protocol_version = "HTTP/1.1"
            timeout = 60  # idle keep-alive connections end
            # The headers and the body are two writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK of the headers, ~20 ms on every call a
            # function makes (measured: a warm ResolveChampion 64 -> 32 ms).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                if "X-Amz-Target" not in self.headers:
                    self._s3()
                    return
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                try:
                    request = json.loads(self._body() or b"{}")
                    status, body = 200, api.call(operation, request)
                except ApiError as exc:
                    status, body = 400, {"__type": exc.code, "message": str(exc)}
                except ValueError as exc:
                    status, body = 400, {"__type": "SerializationException", "message": str(exc)}
                finally:
                    registry.state.release()
                payload = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _s3(self) -> None:
                if s3 is None:
                    response_status, headers, payload = 501, {}, b"no S3 API on this server"
                    headers["Content-Length"] = str(len(payload))
                else:
                    try:
                        answer = s3.handle(self.command, self.path, self.headers, self._body())
                    finally:
                        registry.state.release()  # this thread's SQLite connection (ETags)
                    response_status, headers, payload = answer.status, answer.headers, answer.body
                self.send_response(response_status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_HEAD = do_DELETE = _s3

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the step's own log records what the function did

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for serve_forever's next poll: a short interval keeps the Lambda
        # step (never cached) from idling half a second on every run.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalSageMakerApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
