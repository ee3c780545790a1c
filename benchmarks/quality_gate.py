"""The quality gate on public data no one here generated, before and after the gate's change.

Data: scikit-learn's bundled data sets, nothing downloaded. load_breast_cancer (malignant as
the positive class, 37%), load_digits one digit against the rest; "cut to 3%" keeps every
negative row and a seeded random 3% share of positives; "shuffled" permutes the labels
(no signal left); "label copied" adds a feature equal to the label; "label twice" repeats
the label column in the CSV header (pandas reads the copy as `y.1`).

Each scenario runs the three container scripts directly, as their jobs run them, twice:
  before  the scripts of --before (default de79a03, the commit before the gate: the
          decision is accuracy >= 0.90 at the estimator's own 0.5 cut-off);
  after   this checkout's scripts with pipeline.toml's gate ([pipeline] metric and
          metric_threshold, [quality_gate]).
Both use splits of 50/25/25 (the bundled sets are small: a 15% test split of digits at 3%
would hold 7 positives, which the gate refuses) and no champion. PR-AUC is the average
precision on the test split (the same model before and after: the training is unchanged
with class_weight = "none"); recall is at 0.5 before, at the threshold chosen on the
validation split after.

--class-weights also compares class_weight none and balanced (the after scripts) on the
bundled fraud sample, the digits at 3% and breast cancer; --chance measures how often the
baseline rule lets a model without signal through (random scores, split sizes of the
digits and of the fraud sample); --threshold-study prints the figures behind the default
MetricThreshold (the bundled sample and four more generated samples, the pipeline's own
splits, the default model and a one-split one). Conditions: OMP_NUM_THREADS=1, fixed seeds;
the figures are deterministic for given library versions.

    python benchmarks/quality_gate.py [--before REF] [--digits 0,1,...] [--class-weights]
        [--chance 200] [--threshold-study] [--no-compare]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from process_tree import Measurement, conditions, run_measured
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import average_precision_score

from pipelines.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "de79a03"
SCRIPTS = ("processing/preprocess.py", "training/train.py", "training/inference.py")
SCRIPTS += ("evaluation/evaluate.py",)
LABEL = "y"
SPLITS = ("--validation-fraction", "0.25", "--test-fraction", "0.25")
RARE_RATE = 0.03


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


EVALUATE = load_module(ROOT / "evaluation" / "evaluate.py", "checkout_evaluate")


# --- the data ------------------------------------------------------------------------------------


def frame_of(features: np.ndarray, label: np.ndarray, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(features, columns=names)
    frame[LABEL] = label.astype(int)
    return frame


def breast_cancer() -> pd.DataFrame:
    data = load_breast_cancer()
    names = [name.replace(" ", "_") for name in data.feature_names]
    return frame_of(data.data, data.target == 0, names)  # target 0 is malignant


def digit_against_rest(digit: int) -> pd.DataFrame:
    data = load_digits()
    return frame_of(data.data, data.target == digit, [f"pixel_{i}" for i in range(64)])


def cut_to(frame: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    """Every negative row and a random share of positives, so that positives are `rate`."""
    rng = np.random.default_rng(seed)
    positives = frame.index[frame[LABEL] == 1]
    keep = round(rate / (1 - rate) * int((frame[LABEL] == 0).sum()))
    kept = rng.choice(positives, size=min(keep, len(positives)), replace=False)
    return frame.loc[(frame[LABEL] == 0) | frame.index.isin(kept)].reset_index(drop=True)


def shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return frame.assign(**{LABEL: rng.permutation(frame[LABEL].to_numpy())})


def write_csv(frame: pd.DataFrame, path: Path, label_twice: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv(index=False)
    if label_twice:  # the label column twice: y, then y again at the end of each line
        header, body = text.split("\n", 1)
        lines = [f"{line},{line.rsplit(',', 1)[1]}" for line in body.splitlines()]
        text = f"{header},{LABEL}\n" + "\n".join(lines) + "\n"
    path.write_text(text)


# --- one run of the three scripts ----------------------------------------------------------------


@dataclass
class Outcome:
    refused: str | None = None
    report: dict = field(default_factory=dict)
    average_precision: float | None = None
    train: Measurement | None = None
    test_positives: int | None = None

    @property
    def decision(self) -> dict:
        return self.report.get("decision") or {}

    def metric(self, name: str) -> float | None:
        return ((self.report.get("binary_classification_metrics") or {}).get(name) or {}).get(
            "value"
        )


def run_scripts(
    code: Path,
    data: Path,
    work: Path,
    evaluate_options: list[str],
    train_options: list[str],
    splits: tuple[str, ...] = SPLITS,
) -> Outcome:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    fractions, splits = splits, work / "splits"
    model, out = work / "model", work / "out"
    preprocess = subprocess.run(
        [sys.executable, str(code / "processing" / "preprocess.py"),
         "--label-column", LABEL, "--problem-type", "binary_classification", *fractions,
         "--input-dir", str(data), "--train-dir", str(splits / "train"),
         "--validation-dir", str(splits / "validation"), "--test-dir", str(splits / "test"),
         "--exit-message-file", str(work / "preprocess-message")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if preprocess.returncode != 0:
        return Outcome(refused=(work / "preprocess-message").read_text())
    # Training time, whole process tree (its CPU too: the table's cost column).
    train = run_measured(
        [sys.executable, "train.py", "--label-column", LABEL,
         "--problem-type", "binary_classification", *train_options],
        cwd=code / "training",
        env={**env, "SM_MODEL_DIR": str(model), "SM_CHANNEL_TRAIN": str(splits / "train"),
             "SM_CHANNEL_VALIDATION": str(splits / "validation"),
             "SM_OUTPUT_DATA_DIR": str(out / "data"), "SM_OUTPUT_DIR": str(out)},
    )  # fmt: skip
    packed, no_champion = work / "packed", work / "no-champion"
    packed.mkdir()
    no_champion.mkdir()
    (no_champion / "NO_CHAMPION").write_bytes(b"")
    with tarfile.open(packed / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model.rglob("*")):
            tar.add(path, arcname=path.relative_to(model).as_posix(), recursive=False)
    subprocess.run(
        [sys.executable, str(code / "evaluation" / "evaluate.py"),
         "--label-column", LABEL, "--problem-type", "binary_classification",
         "--model-dir", str(packed), "--test-dir", str(splits / "test"),
         "--output-dir", str(work / "evaluation"),
         "--exit-message-file", str(work / "evaluate-message"),
         "--champion-dir", str(no_champion), "--champion-version", "none", *evaluate_options],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    report = json.loads((work / "evaluation" / "evaluation.json").read_text())
    # The test split's average precision of the trained model, whichever evaluate.py ran.
    metadata = json.loads((model / "metadata.json").read_text())
    test = pd.read_parquet(splits / "test" / "test.parquet")
    probability = joblib.load(model / "model.joblib").predict_proba(
        EVALUATE.model_input(test, metadata["schema"])
    )[:, 1]
    precision = float(average_precision_score(test[LABEL] == 1, probability))
    return Outcome(None, report, precision, train, int((test[LABEL] == 1).sum()))


def before_code(ref: str, into: Path) -> Path:
    for script in SCRIPTS:
        text = subprocess.run(
            ["git", "show", f"{ref}:{script}"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        (into / script).parent.mkdir(parents=True, exist_ok=True)
        (into / script).write_bytes(text)
    return into


# --- the comparison ------------------------------------------------------------------------------


def gate_options() -> list[str]:
    config = load_config()
    settings, gate = config.pipeline, config.quality_gate
    return [
        "--metric", settings.metric, "--higher-is-better", str(settings.higher_is_better).lower(),
        "--threshold", str(settings.metric_threshold), "--champion-margin", "0.0",
        "--confidence-level", str(gate.confidence_level),
        "--resamples", str(gate.resamples),
        "--random-seed", str(gate.random_seed),
    ]  # fmt: skip


BEFORE_OPTIONS = ["--metric", "accuracy", "--threshold", "0.9", "--champion-margin", "0.0"]


def verdict_before(outcome: Outcome) -> str:
    if outcome.refused:
        return "refused: " + outcome.refused[:60]
    accuracy = outcome.metric("accuracy")
    return "registered" if outcome.decision.get("register") else f"failed (accuracy {accuracy:.3f})"


def verdict_after(outcome: Outcome) -> str:
    if outcome.refused:
        text = outcome.refused
        for key, short in (
            ("appears 2 times", "refused: label column twice"),
            ("leakage", "refused: leakage"),
            ("row(s) of class", "refused: too few positives"),
        ):
            if key in text:
                return short
        return "refused: " + text[:60]
    decision = outcome.decision
    if decision.get("register"):
        return "registered"
    failed = [] if decision.get("passes_threshold") else ["below threshold"]
    failed += [] if decision.get("beats_baseline") else ["no better than no skill"]
    return f"failed ({', '.join(failed)})"


def scenarios(digits: list[int]) -> list[tuple[str, list[tuple[pd.DataFrame, bool]]]]:
    """(name, [(frame, label_twice), ...]): several frames make one aggregated row."""
    cancer = breast_cancer()
    rare = {d: cut_to(digit_against_rest(d), RARE_RATE, seed=d) for d in digits}
    eight = rare.get(8, next(iter(rare.values())))
    return [
        ("breast cancer, 37% malignant", [(cancer, False)]),
        ("breast cancer, 37%, labels shuffled", [(shuffled(cancer, 1), False)]),
        ("breast cancer, malignant cut to 3%", [(cut_to(cancer, RARE_RATE, 0), False)]),
        (f"digits vs rest cut to 3% ({len(digits)} digits)", [(rare[d], False) for d in digits]),
        (
            f"the same, labels shuffled ({len(digits)} digits)",
            [(shuffled(rare[d], d), False) for d in digits],
        ),
        ("digit 8 at 3%, label copied as a feature", [(eight.assign(flag=eight[LABEL]), False)]),
        ("digit 8 at 3%, label column twice in the CSV", [(eight, True)]),
    ]


def summary(values: list[float | None]) -> str:
    """One value, or the mean and the range of several."""
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    if len(present) == 1:
        return f"{present[0]:.3f}"
    return f"{np.mean(present):.3f} ({min(present):.3f}-{max(present):.3f})"


def tally(verdicts: list[str]) -> str:
    if len(verdicts) == 1:
        return verdicts[0]
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict] = counts.get(verdict, 0) + 1
    return ", ".join(f"{verdict} {n}/{len(verdicts)}" for verdict, n in counts.items())


def compare(before: Path, digits: list[int], work: Path) -> None:
    after_options = gate_options()
    print(
        "| data (test positives) | before: accuracy >= 0.90 | after: "
        f"{after_options[1]} >= {after_options[5]} and beats no skill | PR-AUC | "
        "recall before (0.5) | recall after (chosen threshold) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    reasons = []
    for number, (name, frames) in enumerate(scenarios(digits)):
        rows = []
        for part, (frame, twice) in enumerate(frames):
            data = work / f"data-{number}-{part}" / "data.csv"
            write_csv(frame, data, label_twice=twice)
            old = run_scripts(before, data.parent, work / f"b-{number}-{part}", BEFORE_OPTIONS, [])
            new = run_scripts(ROOT, data.parent, work / f"a-{number}-{part}", after_options, [])
            rows.append((old, new))
        counts = [o.test_positives for o, _ in rows if o.test_positives is not None]
        positives = (
            "-"
            if not counts
            else f"{min(counts)}" + (f"-{max(counts)}" if max(counts) != min(counts) else "")
        )
        print(
            f"| {name} ({positives}) "
            f"| {tally([verdict_before(o) for o, _ in rows])} "
            f"| {tally([verdict_after(n) for _, n in rows])} "
            f"| {summary([o.average_precision for o, _ in rows])} "
            f"| {summary([o.metric('recall') for o, _ in rows])} "
            f"| {summary([n.metric('recall') for _, n in rows])} |",
            flush=True,
        )
        if len(rows) == 1:
            new = rows[0][1]
            reasons.append(f"- {name}: {new.refused or new.decision['reason']}")
    print("\nWhat the gate said (after):\n" + "\n".join(reasons), flush=True)


def class_weights(digits: list[int], work: Path) -> None:
    """class_weight none against balanced, on the after scripts."""
    sample = pd.read_csv(ROOT / "data" / "sample" / "transactions.csv").rename(
        columns={"is_fraud": LABEL}
    )
    sets = [
        ("bundled fraud sample (50,000 rows, 3.1%)", [sample]),
        (f"digits vs rest at 3% ({len(digits)} digits)", [
            cut_to(digit_against_rest(d), RARE_RATE, seed=d) for d in digits
        ]),
        ("breast cancer, 37% malignant", [breast_cancer()]),
    ]  # fmt: skip
    print(
        "\n| data | class_weight | PR-AUC | log loss | recall (chosen threshold) | train s "
        "| train CPU s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    options = gate_options()
    for number, (name, frames) in enumerate(sets):
        for weight in ("none", "balanced"):
            outcomes = []
            for part, frame in enumerate(frames):
                data = work / f"cw-{number}-{part}" / "data.csv"
                if not data.exists():
                    write_csv(frame, data)
                outcomes.append(
                    run_scripts(
                        ROOT, data.parent, work / f"cw-{number}-{part}-{weight}", options,
                        ["--class-weight", weight],
                    )
                )  # fmt: skip
            print(
                f"| {name} | {weight} | {summary([o.average_precision for o in outcomes])} "
                f"| {summary([o.metric('log_loss') for o in outcomes])} "
                f"| {summary([o.metric('recall') for o in outcomes])} "
                f"| {sum(o.train.seconds for o in outcomes):.1f} "
                f"| {sum(o.train.cpu_seconds for o in outcomes):.1f} |",
                flush=True,
            )


def chance(trials: int) -> None:
    """How often random scores (no signal) pass each test of the baseline rule, and both."""
    config = load_config()
    gate = config.quality_gate
    bootstrap = EVALUATE.Bootstrap(gate.confidence_level, gate.resamples, 0)
    print(
        f"\n| random scores ({trials} trials): test rows, positives | metric | bootstrap lower "
        "end above the baseline | permutation p < (1 - level) / 2 | both (the rule) |"
    )
    print("| --- | --- | --- | --- | --- |")
    allowed = (1 - bootstrap.level) / 2
    rng = np.random.default_rng(0)
    for rows, positives in ((450, 12), (7500, 231)):
        for metric in ("average_precision", "auc"):
            passed = np.zeros(3)
            for trial in range(trials):
                positive = np.zeros(rows, dtype=bool)
                positive[:positives] = True
                score = rng.random(rows)
                predictions = EVALUATE.Predictions(
                    actual=positive.astype(int), score=score, positive=positive,
                    flagged=score > 0.9, classes=[0, 1],
                )  # fmt: skip
                found = EVALUATE.gather_evidence(
                    metric, True, predictions, None,
                    EVALUATE.Bootstrap(bootstrap.level, bootstrap.resamples, trial),
                )  # fmt: skip
                interval = found["baseline_advantage_interval"]["lower"] > 0
                permutation = found["baseline_p_value"] < allowed
                passed += [interval, permutation, interval and permutation]
            shares = " | ".join(f"{share:.1%}" for share in passed / trials)
            print(f"| {rows}, {positives} | {metric} | {shares} |", flush=True)


def threshold_study(work: Path) -> None:
    """What the default MetricThreshold rests on: the model's average precision and its
    bootstrap interval on the bundled sample and on more samples of the same generator
    (50,000 rows, the pipeline's own 70/15/15 splits), against a one-split model."""
    from pipelines.sample_data import generate_transactions

    samples = [("bundled sample", pd.read_csv(ROOT / "data" / "sample" / "transactions.csv"))]
    samples += [(f"seed {seed}", generate_transactions(50_000, seed=seed)) for seed in (1, 2, 3, 4)]
    print("\n| 50,000 rows | model | PR-AUC | 95% interval | no skill |")
    print("| --- | --- | --- | --- | --- |")
    options = gate_options()
    for number, (name, frame) in enumerate(samples):
        data = work / f"ts-{number}" / "data.csv"
        write_csv(frame.rename(columns={"is_fraud": LABEL}), data)
        for model, train_options in (
            ("default", []),
            ("one split", ["--max-iter", "1", "--max-leaf-nodes", "2"]),
        ):
            outcome = run_scripts(
                ROOT, data.parent, work / f"ts-{number}-{model.replace(' ', '-')}", options,
                train_options, splits=(),
            )  # fmt: skip
            decision = outcome.decision
            interval = decision["challenger_interval"]
            print(
                f"| {name} | {model} | {decision['challenger']:.3f} | {interval['lower']:.3f} "
                f"to {interval['upper']:.3f} | {decision['baseline']:.3f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help="git commit of the old scripts")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--class-weights", action="store_true")
    parser.add_argument("--chance", type=int, default=0, help="trials of the chance test")
    parser.add_argument("--no-compare", action="store_true", help="skip the before/after table")
    parser.add_argument(
        "--threshold-study", action="store_true", help="the figures behind MetricThreshold"
    )
    args = parser.parse_args()
    digits = [int(d) for d in args.digits.split(",")]
    import sklearn

    print(
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"OMP_NUM_THREADS=1, before = {args.before}; {conditions()}\n"
    )
    with tempfile.TemporaryDirectory(prefix="quality-gate-") as tmp:
        work = Path(tmp)
        if not args.no_compare:
            compare(before_code(args.before, work / "before"), digits, work)
        if args.class_weights:
            class_weights(digits, work)
        if args.threshold_study:
            threshold_study(work)
    if args.chance:
        chance(args.chance)


if __name__ == "__main__":
    main()
