"""What a baseline and a drift check cost on 1M rows, measured in one run.

Generates (pipelines/sample_data.py) a 1M-row baseline data set (seed 7, Parquet, the
columns Preprocess keeps) with the schema.json Preprocess writes for this generator's data,
and 1M rows of new data (seed 8: the same distribution; the raw generator output, with the
identifier and the label the check ignores) as CSV and as Parquet, plus the same rows with
three features moved. It then times, each as its own process like a processing job:

  read     pandas reading the check's columns of the file and nothing else (the floor);
  baseline `data_quality.py baseline` on the 1M baseline rows;
  check    `data_quality.py check` on the new rows (CSV, Parquet, shifted Parquet);
  capture  `data_quality.py check` on --capture-records captured requests (JSON Lines, one
           CSV row per request, as an endpoint's data capture writes them).

Each runs --repeat times and the fastest counts. Peak memory and CPU are the whole process
tree's (benchmarks/process_tree.py: summed RSS of the command and every process it starts,
CPU seconds user + system; the script starts none). Linux keeps a process's RSS high-water
mark across exec, so a child's figure is at least its parent's RSS when it was spawned: the
data are generated in a separate process and this one imports nothing but the standard
library and psutil, so it stays small (about 20 MB). The ratio check / read says what the
measures cost on top of reading.

--psi-null measures instead how often PSI reaches 0.1 and 0.2 on samples drawn from the
baseline's own distribution (no drift at all), by sample size: what --psi-min-rows is for.

    python benchmarks/drift_check.py [--rows 1000000] [--capture-records 1000000] [--repeat 2]
    python benchmarks/drift_check.py --psi-null
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from process_tree import Measurement, conditions, run_measured

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "processing" / "data_quality.py"
PREPROCESS = ROOT / "processing" / "preprocess.py"
RSS_TARGET_MB = 1024


def fastest(command: list[str], repeat: int) -> Measurement:
    runs = [run_measured(command) for _ in range(repeat)]
    return min(runs, key=lambda run: run.seconds)


# -- The data (in their own process: see the module docstring) --------------------------


def prepare(work: Path, rows: int, capture_records: int) -> None:
    """Every data set, and prepared.json: the features and the library versions."""
    import numpy as np
    import pandas as pd
    import scipy

    sys.path.insert(0, str(ROOT))
    from pipelines.sample_data import generate_transactions

    schema = schema_of_the_generator(work, generate_transactions)
    features = schema["feature_columns"]
    baseline = work / "baseline-data"
    baseline.mkdir()
    generate_transactions(rows, seed=7)[schema["columns"]].to_parquet(
        baseline / "train.parquet", index=False
    )
    (baseline / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    current = generate_transactions(rows, seed=8)
    (work / "new-csv").mkdir()
    current.to_csv(work / "new-csv" / "new.csv", index=False)
    (work / "new-parquet").mkdir()
    current.to_parquet(work / "new-parquet" / "new.parquet", index=False)
    moved = current.copy()
    moved["amount"] *= 1.8
    moved["distance_from_home_km"] *= 3
    moved.loc[np.random.default_rng(0).random(rows) < 0.08, "merchant_category"] = "crypto"
    (work / "shifted-parquet").mkdir()
    moved.to_parquet(work / "shifted-parquet" / "new.parquet", index=False)
    folder = work / "capture" / "endpoint" / "AllTraffic" / "2026" / "12" / "01" / "10"
    folder.mkdir(parents=True)
    capture_file(current.iloc[:capture_records], features, folder / "capture.jsonl")
    versions = f"numpy {np.__version__}, pandas {pd.__version__}, scipy {scipy.__version__}"
    prepared = {"features": features, "versions": versions}
    (work / "prepared.json").write_text(json.dumps(prepared), encoding="utf-8")


def schema_of_the_generator(work: Path, generate_transactions) -> dict:
    """The schema.json Preprocess writes for this generator's data (from 5,000 rows)."""
    source, splits = work / "schema-input", work / "schema-splits"
    source.mkdir()
    generate_transactions(5000, seed=7).to_csv(source / "data.csv", index=False)
    subprocess.run(
        [
            sys.executable,
            str(PREPROCESS),
            "--label-column",
            "is_fraud",
            "--problem-type",
            "binary_classification",
            "--input-dir",
            str(source),
            "--train-dir",
            str(splits / "train"),
            "--validation-dir",
            str(splits / "validation"),
            "--test-dir",
            str(splits / "test"),
            "--exit-message-file",
            str(work / "preprocess-message"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads((splits / "train" / "schema.json").read_text(encoding="utf-8"))


def capture_file(frame, features: list[str], path: Path) -> None:
    """One captured request per row: a CSV body in the feature order."""
    rows = frame[features].to_csv(header=False, index=False, float_format="%.17g").splitlines()
    with path.open("w", encoding="utf-8") as handle:
        for number, row in enumerate(rows):
            event = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": row + "\n",
                        "encoding": "CSV",
                    }
                },
                "eventMetadata": {
                    "eventId": f"00000000-0000-4000-8000-{number:012d}",
                    "inferenceTime": "2026-12-01T10:00:00Z",
                },
                "eventVersion": "0",
            }
            handle.write(json.dumps(event) + "\n")


# -- What PSI does without drift ----------------------------------------------------------


def psi_null(draws: int) -> None:
    """How often PSI reaches 0.1 and 0.2 on samples of the baseline's own distribution."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "processing"))
    import data_quality

    sys.path.insert(0, str(ROOT))
    from pipelines.sample_data import MERCHANT_CATEGORIES

    deciles = np.array([0.099] * 10 + [0.01])  # 10 quantile bins and 1% missing
    categories = np.array([share for _, share, _ in MERCHANT_CATEGORIES])
    rng = np.random.default_rng(0)
    print(f"{draws:,} samples per row, drawn from the baseline's own shares (no drift)")
    print("| bins | rows | PSI >= 0.1 | PSI >= 0.2 | mean PSI |")
    print("| --- | --- | --- | --- | --- |")
    for label, shares in (
        ("10 quantile bins + missing", deciles),
        ("merchant_category (14 categories)", categories / categories.sum()),
    ):
        for rows in (100, 200, 500, 1000):
            samples = rng.multinomial(rows, shares, size=draws) / rows
            values = np.array([data_quality.psi(shares, sample) for sample in samples])
            print(
                f"| {label} | {rows} | {np.mean(values >= 0.1):.2%} | "
                f"{np.mean(values >= 0.2):.2%} | {values.mean():.3f} |"
            )


# -- Measuring -----------------------------------------------------------------------------


def read_only(path: Path, features: list[str]) -> list[str]:
    if path.suffix == ".parquet":
        code = f"import pandas as pd; pd.read_parquet({str(path)!r}, columns={features!r})"
    else:
        code = f"import pandas as pd; pd.read_csv({str(path)!r}, usecols={features!r})"
    return [sys.executable, "-c", code]


def check(data: Path, baseline: Path, output: Path) -> list[str]:
    return [
        sys.executable,
        str(SCRIPT),
        "check",
        "--data-dir",
        str(data),
        "--baseline-dir",
        str(baseline),
        "--output-dir",
        str(output),
        "--exit-message-file",
        str(output / "message"),
    ]


def measure(work: Path, rows: int, capture_records: int, repeat: int) -> int:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--prepare",
            str(work),
            "--rows",
            str(rows),
            "--capture-records",
            str(capture_records),
        ],
        check=True,
    )
    print(f"generated the data in {time.perf_counter() - started:.1f} s", flush=True)
    prepared = json.loads((work / "prepared.json").read_text(encoding="utf-8"))
    features = prepared["features"]
    baseline = work / "baseline"
    results = {
        "baseline (Parquet)": fastest(
            [
                sys.executable,
                str(SCRIPT),
                "baseline",
                "--data-dir",
                str(work / "baseline-data"),
                "--output-dir",
                str(baseline),
                "--exit-message-file",
                str(work / "baseline-message"),
            ],
            repeat,
        )
    }
    floors = {}
    for label, folder, name in (
        ("check, CSV", "new-csv", "new.csv"),
        ("check, Parquet", "new-parquet", "new.parquet"),
        ("check, shifted Parquet", "shifted-parquet", "new.parquet"),
    ):
        floors[label] = fastest(read_only(work / folder / name, features), repeat)
        results[label] = fastest(check(work / folder, baseline, work / f"{folder}-out"), repeat)
    results[f"check, {capture_records:,} captured requests"] = fastest(
        check(work / "capture", baseline, work / "capture-out"), repeat
    )
    verdicts = {
        folder: json.loads((work / f"{folder}-out" / "drift_report.json").read_text())["verdict"]
        for folder in ("new-csv", "new-parquet", "shifted-parquet", "capture")
    }
    print(
        f"{rows:,} rows ({capture_records:,} captured requests), fastest of {repeat}; "
        f"{prepared['versions']}; {conditions()}"
    )
    print(f"verdicts: {verdicts}")
    print("| run | wall time | CPU | peak RSS | read alone | run / read |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, measured in results.items():
        floor = floors.get(label)
        read = f"{floor.seconds:.2f} s, {floor.peak_rss_mb:.0f} MB" if floor else "-"
        ratio = f"{measured.seconds / floor.seconds:.2f}" if floor else "-"
        print(
            f"| {label} | {measured.seconds:.2f} s | {measured.cpu_seconds:.2f} s "
            f"| {measured.peak_rss_mb:.0f} MB | {read} | {ratio} |"
        )
    over = [label for label, m in results.items() if m.peak_rss_mb > RSS_TARGET_MB]
    print(f"peak RSS target {RSS_TARGET_MB} MB: " + (f"over in {over}" if over else "met"))
    return 1 if over else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--capture-records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--psi-null", action="store_true", help="PSI without drift, by rows")
    parser.add_argument("--draws", type=int, default=20_000, help="with --psi-null")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.rows, args.capture_records)
        return 0
    if args.psi_null:
        psi_null(args.draws)
        return 0
    with tempfile.TemporaryDirectory(prefix="drift-benchmark-") as scratch:
        return measure(Path(scratch), args.rows, args.capture_records, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
