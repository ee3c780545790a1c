"""`view` (the execution's page, or the pipeline's structure) and `cost` (the cost report).

`view` with no id shows the latest execution, or the definition alone when there is none
yet; `view --definition` always shows the definition alone. Both read the local engine's
state, so `--target sagemaker` is a usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    view = subparsers.add_parser(
        "view",
        parents=[common],
        help="local: write (or serve) an HTML page of an execution's DAG, logs and cost",
        description=(
            "Write a self-contained HTML page of a local execution (default: the latest; the "
            "pipeline's structure alone if there is none yet) and print its path."
        ),
    )
    view.add_argument(
        "execution", nargs="?", default=None, help="execution id, ARN, unique prefix or 'latest'"
    )
    view.add_argument(
        "--definition", action="store_true", help="show the pipeline's structure alone"
    )
    view.add_argument("-o", "--output", type=Path, help="write the page here")
    view.add_argument(
        "--serve", action="store_true", help="serve every execution's page on 127.0.0.1"
    )
    view.add_argument(
        "--port", type=int, default=8765, help="port for --serve (default 8765; 0: any free)"
    )
    view.set_defaults(handler=_view)

    cost = subparsers.add_parser(
        "cost",
        parents=[common],
        help="local: what an execution's jobs would cost on SageMaker ([pricing])",
    )
    cost.add_argument(
        "execution", nargs="?", default="latest", help="execution id, ARN, prefix or 'latest'"
    )
    cost.add_argument("--json", action="store_true", help="machine-readable output")
    cost.set_defaults(handler=_cost)


def _local_only(args: argparse.Namespace, command: str) -> None:
    require_target(
        args,
        "local",
        f"{command} reads the local engine's state; for SageMaker use `describe`, "
        "`status` or SageMaker Studio",
    )


def _document(config: ProjectConfig, execution: str | None, definition_only: bool) -> dict:
    from pipelines.view import model

    if definition_only:
        return model.collect_definition(config)
    try:
        return model.collect_execution(config, execution)
    except LookupError as exc:
        raise UsageError(str(exc.args[0])) from exc


def _view(args: argparse.Namespace, config: ProjectConfig) -> int:
    _local_only(args, "view")
    if args.definition and args.execution:
        raise UsageError("give an execution id or --definition, not both")
    if args.serve:
        if args.output:
            raise UsageError("--serve serves the pages; -o writes one: choose one")
        return _serve(config, args.port)
    from pipelines.view.html import render_page

    document = _document(config, args.execution, args.definition)
    execution = document["execution"]
    name = execution["id"] if execution else "definition"
    path = args.output or config.local_home / "view" / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(document), encoding="utf-8")
    if execution is None and not args.definition:
        print("no local executions yet: showing the pipeline's structure alone")
    print(path.resolve())
    return 0


def _serve(config: ProjectConfig, port: int) -> int:
    from pipelines.view.server import ViewServer

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    try:
        server = ViewServer(config, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    print(f"serving {server.url}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


def _cost(args: argparse.Namespace, config: ProjectConfig) -> int:
    _local_only(args, "cost")
    from pipelines.orchestrators.comparison import compare
    from pipelines.view.cost import orchestration_lines, report_lines

    document = _document(config, args.execution, definition_only=False)
    execution = document["execution"]
    if execution is None:
        raise UsageError("no local executions yet: run the pipeline first")
    report = document["cost"]
    orchestration = compare(config, document)
    if args.json:
        print(
            json.dumps(
                {"execution": execution["id"], **report, "orchestration": orchestration}, indent=2
            )
        )
        return 0
    print(f"Execution {execution['id']} ({execution['status']})")
    for line in report_lines(report) + orchestration_lines(orchestration):
        print(line)
    return 0
