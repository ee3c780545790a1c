"""Preprocess (and the whole pipeline) on 1 vs 2 instances, on a 5M-row input split into files.

Conditions, which the figures depend on: this runs the local engine, where the instances of
a job are processes on one machine. On the development machine that is 2 cores and 24 GB
shared with everything else running (other sessions' tests and builds), so the 2 instances
share the 2 cores and the memory that on SageMaker would be one machine each: the wall-time
gain measured here is a lower bound of SageMaker's, and it moves with the machine's load
(run it when the load average is low; it is printed). Peak memory per instance is what
sizes an instance type, and sharing does not change it.

Input: `python -m pipelines.sample_data --rows 5000000 --files 10` (CSV, ~0.5 GB), so with
ShardedByS3Key each of 2 instances reads 5 of the 10 files.

For each instance count, on a fresh local home (no cache, no state):
  preprocess  the project's definition with only its Preprocess step, run by the local
              engine with ProcessingInstanceCount=N (a child process: the input is staged
              into the store first, then the step runs);
  pipeline    `run_pipeline.py start --param ProcessingInstanceCount=N` on the same input
              (skip with --skip-pipeline; Train and Evaluate run on one instance either way).
Each scenario runs --repeat times (default 2), the instance counts alternating so that a
burst of load elsewhere favours neither, and the fastest run counts. Printed for it: the
step's (or the execution's) wall time, each instance's wall time and peak RSS (wait4 on that
host's process, which includes what it waited for; the engine writes them to the job
folder's hosts.json), their sum (the memory the instances need at once on one machine), and
the whole command's process tree (benchmarks/process_tree.py): peak summed RSS and CPU
seconds of every process it starts, the Lambda environments included.

    python benchmarks/sharded_preprocess.py [--rows 5000000] [--files 10] [--repeat 2]
                                            [--skip-pipeline]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline_overhead import ROOT, local_project
from process_tree import Measurement, conditions, reap_orphans, run_measured

from pipelines.local.lambda_runtime import LambdaRuntime

COUNTS = (1, 2)


def preprocess_only(config_path: Path, input_dir: Path, count: int) -> dict:
    """Child mode: the Preprocess step alone through the local engine."""
    from pipelines.app.runner import open_engine, stage_input
    from pipelines.code_assets import code_uri
    from pipelines.config import load_config
    from pipelines.definition_cache import load_definition
    from pipelines.local.orchestrator import RunOptions
    from pipelines.parameters import resolve_parameters

    config = load_config(config_path)
    text, code = load_definition(config, "local")
    definition = json.loads(text)
    definition["Steps"] = [s for s in definition["Steps"] if s["Name"] == "Preprocess"]
    engine = open_engine(config)
    target = config.target("local")
    for asset in code.all():
        engine.store.put_bytes(asset.data, code_uri(asset, config, target))
    overrides = {
        "InputDataUrl": stage_input(engine.store, config, str(input_dir)),
        "ProcessingInstanceCount": count,
    }
    parameters = resolve_parameters(definition["Parameters"], overrides)
    result = engine.run(definition, config.pipeline.name, parameters, RunOptions(no_cache=True))
    step = result.steps["Preprocess"]
    return {
        "status": result.status,
        "reason": result.failure_reason,
        "seconds": step.duration,
        "job_dir": step.job_dir,
    }


def hosts_of(job_dir: Path) -> list[dict]:
    return json.loads((job_dir / "hosts.json").read_text(encoding="utf-8"))


def step_job_dir(home: Path, step: str) -> Path:
    (found,) = (home / "jobs").glob(f"*/pipelines-*-{step}-*")
    return found


def measure_preprocess(input_dir: Path, work: Path, count: int) -> dict:
    config = local_project(work)
    base = [sys.executable, str(ROOT / "run_pipeline.py"), "--config", str(config)]
    run_measured([*base, "definition", "-o", str(work / "definition.json")], cwd=ROOT)
    report = work / "report.json"
    child = [
        sys.executable,
        __file__,
        "--child",
        str(config),
        str(input_dir),
        str(count),
        str(report),
    ]
    tree = run_measured(child, cwd=ROOT)
    result = json.loads(report.read_text(encoding="utf-8"))
    if result["status"] != "Succeeded":
        raise SystemExit(f"Preprocess on {count} instance(s) failed: {result['reason']}")
    return {
        "seconds": result["seconds"],
        "hosts": hosts_of(Path(result["job_dir"])),
        "tree": tree,
    }


def measure_pipeline(input_dir: Path, work: Path, count: int) -> dict:
    config = local_project(work)
    base = [sys.executable, str(ROOT / "run_pipeline.py"), "--config", str(config)]
    run_measured([*base, "definition", "-o", str(work / "definition.json")], cwd=ROOT)
    start = [
        *base,
        "start",
        "--param",
        f"InputDataUrl={input_dir}",
        "--param",
        f"ProcessingInstanceCount={count}",
    ]
    tree = run_measured(start, cwd=ROOT)
    LambdaRuntime(work / "home" / "lambda-runtimes", keep_warm_seconds=0).stop_all()
    reap_orphans()
    steps = {name: hosts_of(step_job_dir(work / "home", name)) for name in ("Preprocess", "Train")}
    return {"seconds": tree.seconds, "steps": steps, "tree": tree}


def repeated(measure, label: str, input_dir: Path, scratch: Path, repeat: int) -> dict:
    """{count: the fastest of `repeat` runs}, the counts alternating run by run."""
    runs: dict[int, list[dict]] = {count: [] for count in COUNTS}
    for attempt in range(repeat):
        for count in COUNTS:
            work = scratch / f"{label}-{count}-{attempt}"
            work.mkdir()
            runs[count].append(measure(input_dir, work, count))
            shutil.rmtree(work / "home" / "store", ignore_errors=True)
    print(f"{label}, seconds of each run:")
    for count, results in runs.items():
        seconds = "  ".join(f"{result['seconds']:.1f}" for result in results)
        print(f"  {count} instance(s): {seconds}")
    return {count: min(results, key=lambda r: r["seconds"]) for count, results in runs.items()}


def print_hosts(label: str, seconds: float, hosts: list[dict], tree: Measurement) -> None:
    total = sum(h["peak_rss_mb"] for h in hosts)
    per_host = ", ".join(
        f"{h['host']} {h['seconds']:.1f} s / {h['peak_rss_mb']:.0f} MB" for h in hosts
    )
    print(
        f"  {label:<24} {seconds:8.1f} s   instances: {per_host}   "
        f"sum {total:.0f} MB   whole tree {tree.peak_rss_mb:.0f} MB, {tree.cpu_seconds:.1f} CPU s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--skip-pipeline", action="store_true", help="Preprocess alone")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each scenario; the fastest counts"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config, input_dir, count, report = args.child
        result = preprocess_only(Path(config), Path(input_dir), int(count))
        Path(report).write_text(json.dumps(result), encoding="utf-8")
        return 0

    print(conditions())
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "pipelines", "run_pipeline.py"],
        cwd=ROOT,
        check=True,
    )
    with tempfile.TemporaryDirectory(prefix="sharded-bench-") as tmp:
        scratch = Path(tmp)
        input_dir = scratch / "input"
        generate = [sys.executable, "-m", "pipelines.sample_data", "--rows", str(args.rows)]
        generate += ["--seed", "11", "--files", str(args.files), "-o", str(input_dir)]
        subprocess.run(generate, cwd=ROOT, check=True)
        size = sum(p.stat().st_size for p in input_dir.iterdir()) / 1e9
        print(f"input: {args.rows:,} rows in {args.files} CSV files, {size:.2f} GB")
        preprocess = repeated(measure_preprocess, "preprocess", input_dir, scratch, args.repeat)
        pipelines = {}
        if not args.skip_pipeline:
            pipelines = repeated(measure_pipeline, "pipeline", input_dir, scratch, args.repeat)

    print("\nPreprocess step (engine: inputs placed, instances run, outputs published)")
    for count, result in preprocess.items():
        print_hosts(f"{count} instance(s)", result["seconds"], result["hosts"], result["tree"])
    one, two = preprocess[1]["seconds"], preprocess[2]["seconds"]
    print(f"  2 / 1 instances: {two / one:.2f} x the wall time")
    if pipelines:
        print("\nwhole pipeline (`start`, fresh home; Train and Evaluate on one instance)")
        for count, result in pipelines.items():
            print_hosts(
                f"{count} instance(s)",
                result["seconds"],
                result["steps"]["Preprocess"],
                result["tree"],
            )
            train = result["steps"]["Train"][0]
            print(f"  {'':<24} Train {train['seconds']:.1f} s / {train['peak_rss_mb']:.0f} MB")
        one, two = pipelines[1]["seconds"], pipelines[2]["seconds"]
        print(f"  2 / 1 instances: {two / one:.2f} x the wall time")
    print(f"\nat the end: {conditions()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
