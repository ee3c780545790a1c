"""processing/data_quality.py: baselines and drift checks in SageMaker Model Monitor's formats.

The documented shapes checked here come from the SageMaker developer guide: "Schema for
Statistics (statistics.json file)", "Schema for Constraints (constraints.json file)" and
"Schema for Violations (constraint_violations.json file)"; the capture records from "Capture
data from real-time endpoint" (captureData.endpointInput with observedContentType, mode,
data, encoding; eventMetadata with eventId and inferenceTime; eventVersion).
"""

from __future__ import annotations

import base64
import io
import json
import math
import tarfile
from pathlib import Path

import data_quality
import numpy as np
import pandas as pd
import preprocess
import pytest
from scipy import stats

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container

LABEL = "is_fraud"
NUMERIC = [
    "amount",
    "hour",
    "country_mismatch",
    "card_age_days",
    "txn_count_1h",
    "txn_count_24h",
    "distance_from_home_km",
    "avg_amount_30d",
    "is_new_device",
]
CATEGORICAL = ["merchant_category", "channel"]
CHECK_TYPES = {
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Preprocess's outputs for 20,000 rows of the bundled sample's generator (seed 7)."""
    root = tmp_path_factory.mktemp("prepared")
    (root / "input").mkdir()
    generate_transactions(20_000, seed=7).to_csv(root / "input" / "data.csv", index=False)
    code = preprocess.main(
        [
            "--label-column",
            LABEL,
            "--problem-type",
            "binary_classification",
            "--input-dir",
            str(root / "input"),
            "--train-dir",
            str(root / "train"),
            "--validation-dir",
            str(root / "validation"),
            "--test-dir",
            str(root / "test"),
            "--exit-message-file",
            str(root / "message"),
        ]
    )
    assert code == 0
    return root


@pytest.fixture(scope="module")
def baseline_dir(prepared: Path) -> Path:
    output = prepared / "baseline"
    code = data_quality.main(
        [
            "baseline",
            "--data-dir",
            str(prepared / "train"),
            "--output-dir",
            str(output),
            "--exit-message-file",
            str(prepared / "baseline-message"),
        ]
    )
    assert code == 0
    return output


@pytest.fixture(scope="module")
def train(prepared: Path) -> pd.DataFrame:
    return pd.read_parquet(prepared / "train" / "train.parquet")


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


class Outcome:
    def __init__(self, code: int, output: Path, message: Path):
        self.code = code
        self.output = output
        self.message = message.read_text(encoding="utf-8") if message.exists() else ""

    @property
    def report(self) -> dict:
        return read(self.output / "drift_report.json")

    @property
    def violations(self) -> list[dict]:
        return read(self.output / "constraint_violations.json")["violations"]

    @property
    def statistics(self) -> dict:
        return read(self.output / "statistics.json")

    def feature(self, name: str) -> dict:
        return next(f for f in self.report["features"] if f["name"] == name)

    def drifted(self) -> set[str]:
        return set(self.report["drifted_features"])

    def flagged(self, check: str) -> set[str]:
        return {v["feature_name"] for v in self.violations if v["constraint_check_type"] == check}


def run_check(tmp_path: Path, data_dir: Path, baseline: Path, *extra: str) -> Outcome:
    output = tmp_path / "drift"
    message = tmp_path / "message"
    code = data_quality.main(
        [
            "check",
            "--data-dir",
            str(data_dir),
            "--baseline-dir",
            str(baseline),
            "--output-dir",
            str(output),
            "--exit-message-file",
            str(message),
            *extra,
        ]
    )
    return Outcome(code, output, message)


def write_table(directory: Path, frame: pd.DataFrame, name: str = "data.parquet") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return directory


def shifted(rows: int = 5000, seed: int = 12) -> pd.DataFrame:
    """Several features moved and one new category."""
    frame = generate_transactions(rows, seed=seed)
    frame["amount"] *= 1.8
    frame["distance_from_home_km"] *= 3
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(rows) < 0.08, "merchant_category"] = "crypto_exchange"
    return frame


def copy_baseline(baseline: Path, into: Path, edit=None) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    statistics = read(baseline / "statistics.json")
    constraints = read(baseline / "constraints.json")
    if edit:
        edit(statistics, constraints)
    (into / "statistics.json").write_text(json.dumps(statistics), encoding="utf-8")
    (into / "constraints.json").write_text(json.dumps(constraints), encoding="utf-8")
    return into


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- the baseline's files, in Model Monitor's documented shapes ---------------------------


def test_statistics_follow_the_documented_schema(baseline_dir, train):
    statistics = read(baseline_dir / "statistics.json")
    assert is_number(statistics["version"])
    assert statistics["dataset"] == {"item_count": len(train)}
    features = {feature["name"]: feature for feature in statistics["features"]}
    # Every feature, in the model's input order; the label and the identifier are not.
    assert list(features) == [
        "amount",
        "merchant_category",
        "hour",
        "channel",
        *NUMERIC[2:],
    ]
    for name in NUMERIC:
        feature = features[name]
        numeric = feature["numerical_statistics"]
        common = numeric["common"]
        assert common["num_present"] + common["num_missing"] == len(train)
        values = train[name].dropna()
        assert common["num_present"] == len(values)
        assert numeric["mean"] == pytest.approx(values.mean())
        assert numeric["sum"] == pytest.approx(values.sum())
        assert numeric["std_dev"] == pytest.approx(values.std(ddof=0))
        assert (numeric["min"], numeric["max"]) == (values.min(), values.max())
        kll = numeric["distribution"]["kll"]
        assert len(kll["buckets"]) == 10
        assert all(is_number(b[key]) for b in kll["buckets"] for key in b)
        assert kll["buckets"][0]["lower_bound"] == values.min()
        assert kll["buckets"][-1]["upper_bound"] == values.max()
        for before, after in zip(kll["buckets"][:-1], kll["buckets"][1:], strict=True):
            assert before["upper_bound"] == after["lower_bound"]
        assert sum(b["count"] for b in kll["buckets"]) == len(values)
        assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
        (items,) = kll["sketch"]["data"]
        assert len(items) == 2048 and items == sorted(items)
        assert np.quantile(values, 0.5) == pytest.approx(np.median(items), rel=0.05)
        bins = feature["drift_bins"]
        assert len(bins["counts"]) == len(bins["edges"]) + 1
        assert sum(bins["counts"]) == len(values)
    assert features["amount"]["inferred_type"] == "Fractional"
    assert features["hour"]["inferred_type"] == "Integral"
    assert features["distance_from_home_km"]["numerical_statistics"]["common"]["num_missing"] > 0
    for name in CATEGORICAL:
        strings = features[name]["string_statistics"]
        assert features[name]["inferred_type"] == "String"
        counts = train[name].value_counts()
        assert strings["distinct_count"] == len(counts)
        buckets = strings["distribution"]["categorical"]["buckets"]
        assert {b["value"]: b["count"] for b in buckets} == counts.to_dict()
        assert all(isinstance(b["value"], str) and isinstance(b["count"], int) for b in buckets)


def test_quantile_bins_hold_about_a_tenth_each_and_flags_get_a_bin_per_value(baseline_dir):
    features = {f["name"]: f for f in read(baseline_dir / "statistics.json")["features"]}
    amount = features["amount"]["drift_bins"]
    assert len(amount["edges"]) == 9
    total = sum(amount["counts"])
    assert all(abs(count / total - 0.1) < 0.01 for count in amount["counts"])
    flag = features["is_new_device"]["drift_bins"]
    assert flag["edges"] == [0.0]
    counts = features["txn_count_1h"]["drift_bins"]
    assert counts["edges"] == list(map(float, range(len(counts["edges"]))))


def test_constraints_follow_the_documented_schema(baseline_dir, train):
    constraints = read(baseline_dir / "constraints.json")
    assert is_number(constraints["version"])
    features = {feature["name"]: feature for feature in constraints["features"]}
    assert set(features) == {*NUMERIC, *CATEGORICAL}
    for name, feature in features.items():
        assert feature["inferred_type"] in {"Integral", "Fractional", "String"}
        assert feature["completeness"] == pytest.approx(train[name].notna().mean())
    assert features["distance_from_home_km"]["completeness"] < 1
    assert features["amount"]["num_constraints"] == {"is_non_negative": True}
    for name in CATEGORICAL:
        assert features[name]["string_constraints"]["domains"] == sorted(train[name].unique())
    config = constraints["monitoring_config"]
    assert config["evaluate_constraints"] == config["emit_metrics"] == "Enabled"
    assert config["datatype_check_threshold"] == config["domain_content_threshold"] == 0.1
    assert config["distribution_constraints"] == {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    }
    drift = constraints["drift_check"]
    assert drift["feature_columns"] == [f["name"] for f in constraints["features"]]
    assert set(drift["ignored_columns"]) == {LABEL, "transaction_id"}
    assert drift["columns"][-1] == LABEL
    assert {key: drift[key] for key in data_quality.DRIFT_DEFAULTS} == data_quality.DRIFT_DEFAULTS
    assert (drift["psi_bins"], drift["epsilon"], drift["correction"]) == (10, 1e-4, "holm")


def test_a_models_metadata_json_gives_the_merged_schema(tmp_path, prepared, baseline_dir):
    schema = read(prepared / "train" / "schema.json")
    (tmp_path / "metadata.json").write_text(json.dumps({"schema": schema}), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.parquet").write_bytes((prepared / "train" / "train.parquet").read_bytes())
    code = data_quality.main(
        [
            "baseline",
            "--data-dir",
            str(data),
            "--schema",
            str(tmp_path / "metadata.json"),
            "--output-dir",
            str(tmp_path / "out"),
            "--exit-message-file",
            str(tmp_path / "message"),
        ]
    )
    assert code == 0
    assert read(tmp_path / "out" / "statistics.json") == read(baseline_dir / "statistics.json")


def test_a_model_archive_gives_the_schema_its_metadata_holds(tmp_path, prepared, baseline_dir):
    # What the pipeline's Baseline step passes: Train's model.tar.gz, whose metadata.json
    # holds the merged schema whether Preprocess ran on one instance or several.
    schema = read(prepared / "train" / "schema.json")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (
            ("model.joblib", b"not read"),
            ("./metadata.json", json.dumps({"schema": schema}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code, message = run_baseline(
        tmp_path,
        prepared / "train",
        "--schema",
        str(archive),
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert code == 0, message
    assert read(tmp_path / "out" / "statistics.json") == read(baseline_dir / "statistics.json")
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    code, message = run_baseline(tmp_path, prepared / "train", "--schema", str(empty))
    assert code == 1 and f"{empty} holds no metadata.json" in message


# --- the check -------------------------------------------------------------------------


def test_a_sample_from_the_same_distribution_reports_no_drift(tmp_path, baseline_dir):
    # The raw generator output, as a drift check before Preprocess sees it: the identifier
    # and the label are columns the baseline ignores.
    data = write_table(tmp_path / "data", generate_transactions(5000, seed=11), "new.csv")
    outcome = run_check(tmp_path, data, baseline_dir)
    assert outcome.code == 0, outcome.message
    report = outcome.report
    assert report["verdict"] == "no_drift" and report["drift_detected"] is False
    assert report["drifted_features"] == [] and outcome.violations == []
    assert {f["status"] for f in report["features"]} == {"stable"}
    assert all(f["psi"] < 0.1 for f in report["features"])
    assert report["data"] == {"source": "table", "files": 1, "rows": 5000, "baseline_rows": 14000}


def test_shifted_data_reports_exactly_the_moved_features(tmp_path, baseline_dir):
    frame = shifted()
    new = int((frame["merchant_category"] == "crypto_exchange").sum())
    outcome = run_check(tmp_path, write_table(tmp_path / "data", frame), baseline_dir)
    assert outcome.code == 0, outcome.message
    report = outcome.report
    moved = {"amount", "distance_from_home_km", "merchant_category"}
    assert report["verdict"] == "drift" and report["drift_detected"] is True
    assert outcome.drifted() == moved
    assert {f["name"] for f in report["top_drifting_features"][:3]} == moved
    assert outcome.flagged("baseline_drift_check") == moved
    merchant = outcome.feature("merchant_category")
    assert merchant["new_categories"] == [{"value": "crypto_exchange", "count": new}]
    assert merchant["distribution"]["bins"][-1] == "(new)"
    assert merchant["distribution"]["baseline"][-1] == 0.0
    assert merchant["distribution"]["current"][-1] == pytest.approx(new / 5000)
    amount = outcome.feature("amount")
    assert amount["psi_level"] == "significant"
    assert amount["test"]["name"] == "kolmogorov_smirnov" and amount["test"]["significant"]
    # The current shares move to the upper bins of the baseline's deciles.
    assert amount["distribution"]["baseline"][:10] == pytest.approx([0.1] * 10, abs=0.01)
    assert amount["distribution"]["bins"][-1] == "> 139.83"  # no (missing) bin: none missing
    assert amount["distribution"]["current"][-1] > 0.2


def test_violations_and_report_have_the_documented_shapes(tmp_path, baseline_dir):
    frame = shifted()
    frame = frame.drop(columns=["hour"]).assign(promo_code="none")
    outcome = run_check(tmp_path, write_table(tmp_path / "data", frame), baseline_dir)
    assert outcome.code == 0, outcome.message
    for violation in outcome.violations:
        assert set(violation) == {"feature_name", "constraint_check_type", "description"}
        assert violation["constraint_check_type"] in CHECK_TYPES
        assert isinstance(violation["description"], str) and violation["description"]
    assert outcome.flagged("missing_column_check") == {"hour"}
    assert outcome.flagged("extra_column_check") == {"promo_code"}
    assert outcome.feature("hour") == {"name": "hour", "kind": "numeric", "status": "missing"}
    reasons = " ".join(outcome.report["reasons"])
    assert "missing_column_check: hour" in reasons and "extra_column_check: promo_code" in reasons
    # The current statistics are in the baseline's format, for the features found.
    statistics = outcome.statistics
    assert statistics["dataset"] == {"item_count": 5000}
    assert "hour" not in {f["name"] for f in statistics["features"]}
    assert set(statistics["features"][0]) >= {"name", "inferred_type", "numerical_statistics"}


def test_missing_values_move_psi_and_break_completeness(tmp_path, baseline_dir):
    frame = generate_transactions(5000, seed=13)
    rng = np.random.default_rng(0)
    frame.loc[rng.random(len(frame)) < 0.2, "distance_from_home_km"] = np.nan
    frame.loc[3, "amount"] = np.nan  # the baseline's amount is complete: any gap breaks it
    outcome = run_check(tmp_path, write_table(tmp_path / "data", frame), baseline_dir)
    assert outcome.flagged("completeness_check") == {"distance_from_home_km", "amount"}
    distance = outcome.feature("distance_from_home_km")
    assert distance["missing_rate"]["current"] == pytest.approx(0.2, abs=0.02)
    assert distance["missing_rate"]["change"] > 0.15
    assert distance["status"] == "drift" and distance["psi_level"] == "significant"
    assert outcome.feature("amount")["status"] == "stable"


def test_numbers_of_another_type_are_a_data_type_violation(tmp_path, baseline_dir):
    frame = generate_transactions(2000, seed=14).astype({"hour": object})
    frame.loc[:300, "hour"] = "noon"  # 15% text in an Integral feature
    outcome = run_check(tmp_path, write_table(tmp_path / "data", frame, "new.csv"), baseline_dir)
    assert outcome.flagged("data_type_check") == {"hour"}
    assert outcome.feature("hour")["invalid_values"] == 301
    assert outcome.report["drift_detected"] is True


def test_files_without_some_features_count_their_rows_as_missing(tmp_path, baseline_dir):
    data = tmp_path / "data"
    data.mkdir()
    frame = generate_transactions(600, seed=22)
    # pandas stores a non-default index in Parquet as __index_level_0__: not a column.
    frame.set_axis(range(100, 700)).to_parquet(data / "a.parquet", index=True)
    pd.DataFrame({"transaction_id": ["t1", "t2"]}).to_csv(data / "b.csv", index=False)
    outcome = run_check(tmp_path, data, baseline_dir)
    assert outcome.code == 0, outcome.message
    assert outcome.report["data"]["rows"] == 602
    assert outcome.flagged("extra_column_check") == set()
    assert outcome.flagged("missing_column_check") == set()
    amount = outcome.feature("amount")
    assert amount["missing_rate"]["current"] == pytest.approx(2 / 602)
    assert "amount" in outcome.flagged("completeness_check")


def test_values_are_read_as_the_inference_handler_reads_them():
    raw = [" 3 ", "true", "FALSE", "", None, "nan", "x", "inf", 2, 2.5, True, {"a": 1}]
    numbers, invalid = data_quality.to_numbers(pd.Series(raw, dtype=object))
    expected = [3, 1, 0, np.nan, np.nan, np.nan, np.nan, np.nan, 2, 2.5, 1, np.nan]
    np.testing.assert_array_equal(numbers, expected)
    assert np.flatnonzero(invalid).tolist() == [6, 7, 11]
    counts = data_quality.category_counts(pd.Series([" a", "a ", "", None, 3, "b"], dtype=object))
    assert counts == {"a": 2, "3": 1, "b": 1}


# --- every threshold changes the verdict where it should ---------------------------------


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    """Data with only `amount` multiplied, per (rows, factor)."""
    root = tmp_path_factory.mktemp("scaled")

    def make(rows: int, factor: float) -> Path:
        frame = generate_transactions(rows, seed=21)
        frame["amount"] *= factor
        return write_table(root / f"{rows}-{factor}", frame)

    return make


@pytest.mark.parametrize(("threshold", "drift"), [("0.2", True), ("0.5", False)])
def test_psi_threshold(tmp_path, baseline_dir, scaled, threshold, drift):
    # alpha 0 leaves PSI alone to decide; amount's PSI is about 0.3.
    outcome = run_check(
        tmp_path, scaled(5000, 1.8), baseline_dir, "--alpha", "0", "--psi-threshold", threshold
    )
    amount = outcome.feature("amount")
    assert 0.2 < amount["psi"] < 0.5
    assert outcome.report["drift_detected"] is drift
    assert outcome.drifted() == ({"amount"} if drift else set())
    assert outcome.report["thresholds"]["psi_threshold"] == {
        "value": float(threshold),
        "source": "argument",
    }


@pytest.mark.parametrize(("alpha", "drift"), [("0.01", True), ("1e-8", False)])
def test_alpha(tmp_path, baseline_dir, scaled, alpha, drift):
    # A 10% rise in amount: PSI 0.01, far from any threshold; the KS test sees it.
    outcome = run_check(tmp_path, scaled(5000, 1.1), baseline_dir, "--alpha", alpha)
    amount = outcome.feature("amount")
    assert amount["psi_level"] == "stable"
    assert 1e-8 < amount["test"]["p_value_adjusted"] < 0.01
    assert amount["test"]["significant"] is drift
    assert outcome.report["drift_detected"] is drift


@pytest.mark.parametrize(("moderate", "status"), [("0.1", "moderate"), ("0.19", "stable")])
def test_psi_moderate_labels_without_deciding(tmp_path, baseline_dir, scaled, moderate, status):
    outcome = run_check(
        tmp_path, scaled(5000, 1.5), baseline_dir, "--alpha", "0", "--psi-moderate", moderate
    )
    amount = outcome.feature("amount")
    assert 0.1 < amount["psi"] < 0.19
    assert amount["status"] == status
    assert outcome.report["drift_detected"] is False


@pytest.mark.parametrize(("minimum", "drift"), [("500", True), ("1000", False)])
def test_psi_min_rows(tmp_path, baseline_dir, scaled, minimum, drift):
    outcome = run_check(
        tmp_path, scaled(600, 1.8), baseline_dir, "--alpha", "0", "--psi-min-rows", minimum
    )
    amount = outcome.feature("amount")
    assert amount["psi"] > 0.2
    assert amount["psi_level"] == ("significant" if drift else None)
    assert outcome.report["drift_detected"] is drift
    # Too few rows to judge PSI is said, not left to read as "no drift".
    unjudged = [r for r in outcome.report["reasons"] if r.startswith("PSI not judged")]
    assert len(unjudged) == (0 if drift else 1)
    if not drift:
        assert "600 rows" in unjudged[0] and "psi_min_rows 1000" in unjudged[0]
    top = {f["name"]: f for f in outcome.report["top_drifting_features"]}
    assert top["amount"]["psi_level"] == amount["psi_level"]


def test_thresholds_come_from_the_baseline_unless_given(tmp_path, prepared, scaled):
    baseline = tmp_path / "baseline"
    code = data_quality.main(
        [
            "baseline",
            "--data-dir",
            str(prepared / "train"),
            "--output-dir",
            str(baseline),
            "--psi-threshold",
            "0.5",
            "--alpha",
            "0",
            "--exit-message-file",
            str(tmp_path / "message"),
        ]
    )
    assert code == 0
    data = scaled(5000, 1.8)
    recorded = run_check(tmp_path / "recorded", data, baseline)
    assert recorded.report["drift_detected"] is False
    thresholds = recorded.report["thresholds"]
    assert thresholds["psi_threshold"] == {"value": 0.5, "source": "baseline"}
    assert thresholds["alpha"] == {"value": 0, "source": "baseline"}
    given = run_check(tmp_path / "given", data, baseline, "--psi-threshold", "0.2")
    assert given.report["drift_detected"] is True
    assert given.report["thresholds"]["psi_threshold"]["source"] == "argument"


def test_a_moderate_level_above_the_threshold_is_refused(tmp_path, baseline_dir, scaled):
    outcome = run_check(tmp_path, scaled(5000, 1.1), baseline_dir, "--psi-threshold", "0.05")
    assert outcome.code == 1
    assert "psi_moderate 0.1 (from the baseline) is above psi_threshold 0.05" in outcome.message


@pytest.mark.parametrize(("threshold", "flagged"), [(0.1, False), (0.05, True)])
def test_domain_content_threshold(tmp_path, baseline_dir, threshold, flagged):
    def edit(statistics, constraints):
        constraints["monitoring_config"]["domain_content_threshold"] = threshold

    baseline = copy_baseline(baseline_dir, tmp_path / "baseline", edit)
    outcome = run_check(tmp_path, write_table(tmp_path / "data", shifted()), baseline)
    # 8% of merchant categories are new.
    assert outcome.flagged("categorical_values_check") == (
        {"merchant_category"} if flagged else set()
    )


@pytest.mark.parametrize(("threshold", "flagged"), [(0.1, False), (0.01, True)])
def test_datatype_check_threshold(tmp_path, baseline_dir, threshold, flagged):
    def edit(statistics, constraints):
        constraints["monitoring_config"]["datatype_check_threshold"] = threshold

    baseline = copy_baseline(baseline_dir, tmp_path / "baseline", edit)
    frame = generate_transactions(2000, seed=15)
    frame["hour"] = frame["hour"].astype(float)
    frame.loc[:99, "hour"] += 0.5  # 5% not Integral
    outcome = run_check(tmp_path, write_table(tmp_path / "data", frame), baseline)
    assert outcome.flagged("data_type_check") == ({"hour"} if flagged else set())
    assert outcome.report["drift_detected"] is flagged


def test_perform_comparison_disabled_leaves_distributions_alone(tmp_path, baseline_dir):
    def edit(statistics, constraints):
        constraints["monitoring_config"]["distribution_constraints"]["perform_comparison"] = (
            "Disabled"
        )

    baseline = copy_baseline(baseline_dir, tmp_path / "baseline", edit)
    outcome = run_check(tmp_path, write_table(tmp_path / "data", shifted()), baseline)
    assert outcome.report["verdict"] == "no_drift"
    assert outcome.flagged("baseline_drift_check") == set()
    assert {f["status"] for f in outcome.report["features"]} == {"not_compared"}
    assert outcome.feature("amount")["psi"] > 0.2  # still measured and reported


def test_evaluate_constraints_disabled_skips_the_data_checks(tmp_path, baseline_dir):
    def edit(statistics, constraints):
        constraints["monitoring_config"]["evaluate_constraints"] = "Disabled"

    baseline = copy_baseline(baseline_dir, tmp_path / "baseline", edit)
    frame = generate_transactions(3000, seed=16).drop(columns=["hour"]).assign(extra=1)
    outcome = run_check(tmp_path, write_table(tmp_path / "data", frame), baseline)
    assert outcome.violations == []
    assert outcome.report["verdict"] == "no_drift"


def test_no_champion_marker_reports_no_baseline_without_reading_data(tmp_path):
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "NO_CHAMPION").write_bytes(b"")
    outcome = run_check(tmp_path, tmp_path / "nowhere", baseline)
    assert outcome.code == 0, outcome.message
    assert outcome.report["verdict"] == "no_baseline"
    assert outcome.report["drift_detected"] is False
    assert not (outcome.output / "constraint_violations.json").exists()


# --- captured requests (SageMaker data capture JSON Lines) -------------------------------


def capture_line(
    data: str,
    content_type: str = "text/csv",
    encoding: str = "CSV",
    time: str = "2026-01-01T10:00:00Z",
) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": data,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": '{"predictions": []}',
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": "6ff3c8a0-0000-4000-8000-000000000000",
                "inferenceTime": time,
            },
            "eventVersion": "0",
        }
    )


def write_capture(directory: Path, lines: list[str], name: str = "capture.jsonl") -> Path:
    # Data capture's layout: <endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl
    folder = directory / "endpoint" / "AllTraffic" / "2026" / "01" / "01" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def feature_rows(frame: pd.DataFrame, baseline_dir: Path) -> list[str]:
    """Each row as the CSV body a client sends: the features in the model's order."""
    order = read(baseline_dir / "constraints.json")["drift_check"]["feature_columns"]
    # %.17g: every float as the exact number (pandas 2 would write 3.9000000000000004 as 3.9).
    text = frame[order].to_csv(header=False, index=False, float_format="%.17g")
    return text.splitlines()


def test_captured_csv_requests_give_the_same_measures_as_the_table(
    tmp_path, baseline_dir, monkeypatch
):
    monkeypatch.setattr(data_quality, "CAPTURE_CHUNK", 300)  # typed 300 requests at a time
    frame = shifted(1000, seed=17)
    table = run_check(tmp_path / "table", write_table(tmp_path / "table-data", frame), baseline_dir)
    lines = [capture_line(row + "\n") for row in feature_rows(frame, baseline_dir)]
    captured = run_check(
        tmp_path / "capture", write_capture(tmp_path / "capture-data", lines), baseline_dir
    )
    assert captured.code == 0, captured.message
    assert captured.report["data"]["source"] == "capture"
    assert captured.report["data"]["rows"] == 1000
    assert captured.report["data"]["inference_times"] == {
        "first": "2026-01-01T10:00:00.000Z",
        "last": "2026-01-01T10:00:00.000Z",
    }
    for mine, theirs in zip(captured.report["features"], table.report["features"], strict=True):
        assert mine["psi"] == theirs["psi"], mine["name"]
        assert mine["test"]["p_value"] == pytest.approx(theirs["test"]["p_value"]), mine["name"]
    assert captured.drifted() == table.drifted() != set()


def test_every_payload_form_the_handler_accepts_is_read(tmp_path, baseline_dir):
    frame = generate_transactions(8, seed=18)
    constraints = read(baseline_dir / "constraints.json")["drift_check"]
    features, columns = constraints["feature_columns"], constraints["columns"]
    rows = feature_rows(frame, baseline_dir)
    records = frame[features].astype(object).where(frame[features].notna(), None)
    instances = records.to_dict("records")
    with_label = frame[columns].to_csv(header=False, index=False).splitlines()[0]
    header = (
        ",".join(reversed(features))
        + "\n"
        + frame[features[::-1]].iloc[[0]].to_csv(header=False, index=False)
    )
    lines = [
        capture_line(rows[0]),  # one CSV row
        capture_line("\n".join(rows[1:3]) + "\n", "text/csv; charset=utf-8"),  # two rows
        capture_line(with_label),  # with the label, in the training data's column order
        capture_line(header),  # a header naming the features, in another order
        capture_line(json.dumps({"instances": instances[3:5]}), "application/json", "JSON"),
        capture_line(json.dumps(instances[5:6]), "application/json", "JSON"),  # a list
        capture_line(json.dumps(instances[6]), "application/json", "JSON"),  # one object
        capture_line(
            base64.b64encode(rows[7].encode()).decode(), "text/csv", "BASE64"
        ),  # binary capture
    ]
    outcome = run_check(tmp_path, write_capture(tmp_path / "data", lines), baseline_dir)
    assert outcome.code == 0, outcome.message
    # Rows 0 to 7, and row 0 twice more (with the label, and after a header).
    assert outcome.report["data"]["rows"] == 10
    assert outcome.report["data"]["records_skipped"] == 0
    total = frame["amount"].sum() + 2 * frame["amount"].iloc[0]
    statistics = {f["name"]: f for f in outcome.statistics["features"]}
    assert statistics["amount"]["numerical_statistics"]["sum"] == pytest.approx(total)
    merchants = statistics["merchant_category"]["string_statistics"]["distribution"]
    counted = {b["value"]: b["count"] for b in merchants["categorical"]["buckets"]}
    expected = frame["merchant_category"].value_counts().to_dict()
    expected[frame["merchant_category"].iloc[0]] += 2
    assert counted == expected


def test_requests_the_handler_would_refuse_are_skipped_and_counted(tmp_path, baseline_dir):
    frame = generate_transactions(600, seed=19)
    rows = feature_rows(frame, baseline_dir)
    lines = [capture_line(row) for row in rows]
    lines += [
        capture_line("1,2,3"),
        capture_line(
            json.dumps({"instances": [{"amount": 5, "coupon": "x"}]}), "application/json", "JSON"
        ),
        capture_line("amount=5", "application/x-www-form-urlencoded", "BASE64"),
    ]
    outcome = run_check(tmp_path, write_capture(tmp_path / "data", lines), baseline_dir)
    data = outcome.report["data"]
    assert data["rows"] == 600 and data["records_skipped"] == 3
    assert "a CSV row with 3 values, expected 11 or 12" in data["skipped_reasons"]
    assert "a JSON instance with unknown field(s) coupon" in data["skipped_reasons"]
    assert data["first_skipped"].startswith(str(tmp_path / "data"))
    assert f"line {len(rows) + 1}: a CSV row" in data["first_skipped"]


def test_the_time_window_keeps_the_requests_inside_it(tmp_path, baseline_dir, monkeypatch):
    monkeypatch.setattr(data_quality, "CAPTURE_CHUNK", 7)
    rows = feature_rows(generate_transactions(30, seed=20), baseline_dir)
    lines = [
        capture_line(row, time=f"2026-01-01T{9 + index // 10:02d}:{index % 10:02d}:00Z")
        for index, row in enumerate(rows)
    ]
    window = ["--start-time", "2026-01-01T10:00:00Z", "--end-time", "2026-01-01T11:00:00+00:00"]
    outcome = run_check(tmp_path, write_capture(tmp_path / "data", lines), baseline_dir, *window)
    data = outcome.report["data"]
    assert data["rows"] == 10 and data["records_outside_window"] == 20
    assert data["inference_times"] == {
        "first": "2026-01-01T10:00:00.000Z",
        "last": "2026-01-01T10:09:00.000Z",
    }
    empty = run_check(
        tmp_path / "empty",
        tmp_path / "data",
        baseline_dir,
        "--start-time",
        "2027-01-01T00:00:00Z",
    )
    assert empty.code == 1
    assert "no captured rows to check" in empty.message
    assert "30 record(s) fall outside --start-time 2027-01-01T00:00:00Z" in empty.message


def test_window_hours_end_at_the_end_time(tmp_path, baseline_dir):
    rows = feature_rows(generate_transactions(30, seed=20), baseline_dir)
    lines = [
        capture_line(row, time=f"2026-01-01T{9 + index // 10:02d}:{index % 10:02d}:00Z")
        for index, row in enumerate(rows)
    ]
    data = write_capture(tmp_path / "data", lines)
    window = ["--end-time", "2026-01-01T11:00:00Z", "--window-hours", "1"]
    outcome = run_check(tmp_path, data, baseline_dir, *window)
    assert outcome.code == 0, outcome.message
    assert outcome.report["data"]["rows"] == 10
    assert outcome.report["data"]["window"] == {
        "start": "2026-01-01T10:00:00.000Z",
        "end": "2026-01-01T11:00:00.000Z",
    }


def test_the_window_is_exported_as_a_table_a_retraining_run_can_read(tmp_path, baseline_dir):
    frame = shifted(40, seed=21)
    columns = read(baseline_dir / "constraints.json")["drift_check"]["columns"]
    labelled = frame[columns].to_csv(header=False, index=False).splitlines()
    features = feature_rows(frame, baseline_dir)
    instances = frame[columns].astype(object).where(frame[columns].notna(), None)
    lines = [capture_line(row, time="2026-03-04T10:15:00Z") for row in labelled[:20]]
    lines += [
        capture_line(
            json.dumps({"instances": instances.iloc[20:30].to_dict("records")}),
            "application/json",
            "JSON",
            time="2026-03-04T10:20:00Z",
        )
    ]
    lines += [capture_line(row, time="2026-03-04T10:25:00Z") for row in features[30:]]
    lines += [capture_line(features[0], time="2026-03-04T12:00:00Z")]  # outside the window
    export = tmp_path / "windows"
    window = ["--end-time", "2026-03-04T11:00:00Z", "--window-hours", "1"]
    outcome = run_check(
        tmp_path,
        write_capture(tmp_path / "data", lines),
        baseline_dir,
        *window,
        "--export-dir",
        str(export),
    )
    assert outcome.code == 0, outcome.message
    written = outcome.report["data"]["export"]
    assert written == {
        "file": "2026/03/04/window-20260304T100000Z-20260304T110000Z.csv",
        "rows": 40,
        "labelled_rows": 30,
        "label_column": LABEL,
    }
    table = pd.read_csv(export / written["file"])
    assert list(table.columns) == columns
    # Typed 50,000 requests at a time, CSV bodies before JSON ones: compared as sets of rows.
    assert sorted(table["amount"]) == pytest.approx(sorted(frame["amount"]))
    assert table[LABEL].notna().sum() == 30
    assert table[LABEL].sum() == frame[LABEL].iloc[:30].sum()

    # Requests without a label: the export has no label column (Preprocess then names it).
    unlabelled = run_check(
        tmp_path / "unlabelled",
        write_capture(
            tmp_path / "unlabelled-data",
            [capture_line(row, time="2026-03-04T10:15:00Z") for row in features],
        ),
        baseline_dir,
        *window,
        "--export-dir",
        str(tmp_path / "unlabelled-windows"),
    )
    file = unlabelled.report["data"]["export"]["file"]
    table = pd.read_csv(tmp_path / "unlabelled-windows" / file)
    assert list(table.columns) == [c for c in columns if c != LABEL]
    assert unlabelled.report["data"]["export"]["label_column"] is None


def test_the_metrics_are_a_put_metric_data_request(tmp_path, baseline_dir):
    frame = shifted(2000, seed=22)
    outcome = run_check(
        tmp_path,
        write_table(tmp_path / "data", frame),
        baseline_dir,
        "--metrics-namespace",
        "fraud/DataDrift",
        "--metrics-dimension",
        "Endpoint=fraud-endpoint",
    )
    assert outcome.code == 0, outcome.message
    request = read(outcome.output / "cloudwatch_metrics.json")
    assert request["Namespace"] == "fraud/DataDrift"
    endpoint = {"Name": "Endpoint", "Value": "fraud-endpoint"}
    by_name: dict = {}
    for datum in request["MetricData"]:
        assert set(datum) == {"MetricName", "Dimensions", "Timestamp", "Value", "Unit"}
        assert datum["Dimensions"][0] == endpoint
        assert isinstance(datum["Value"], float) and math.isfinite(datum["Value"])
        feature = datum["Dimensions"][1]["Value"] if len(datum["Dimensions"]) > 1 else None
        by_name[(datum["MetricName"], feature)] = datum["Value"]
    report = outcome.report
    assert by_name[("DriftedFeatures", None)] == len(report["drifted_features"]) >= 3
    assert by_name[("DriftDetected", None)] == 1.0
    assert by_name[("Rows", None)] == 2000
    for feature in report["features"]:
        assert by_name[("PSI", feature["name"])] == pytest.approx(feature["psi"])
        expected = feature["test"]["p_value_adjusted"]
        assert by_name[("TestPValue", feature["name"])] == pytest.approx(
            0.0 if expected < 1e-100 else expected
        )

    class Client:
        def __init__(self):
            self.calls = []

        def put_metric_data(self, **request):
            self.calls.append(request)

    client = Client()
    many = {"Namespace": "n", "MetricData": request["MetricData"] * 100}
    assert data_quality.publish_metrics(many, client) == math.ceil(len(many["MetricData"]) / 1000)
    assert sum(len(call["MetricData"]) for call in client.calls) == len(many["MetricData"])
    assert max(len(call["MetricData"]) for call in client.calls) == 1000


def test_an_empty_window_is_a_no_data_report_when_allowed(tmp_path, baseline_dir):
    lines = [
        capture_line(row) for row in feature_rows(generate_transactions(5, seed=3), baseline_dir)
    ]
    data = write_capture(tmp_path / "data", lines)
    window = ["--end-time", "2027-01-01T00:00:00Z", "--window-hours", "1"]
    metrics = ["--metrics-namespace", "ns"]
    outcome = run_check(tmp_path, data, baseline_dir, *window, *metrics, "--no-data-ok")
    assert outcome.code == 0, outcome.message
    report = outcome.report
    assert (report["verdict"], report["drift_detected"]) == ("no_data", False)
    assert "5 record(s) fall outside" in report["reasons"][0]
    request = read(outcome.output / "cloudwatch_metrics.json")
    assert [(d["MetricName"], d["Value"]) for d in request["MetricData"]] == [("Rows", 0.0)]
    # No capture file at all (only what a deployment leaves in the folder), the same.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("captured requests land here")
    outcome = run_check(tmp_path / "none", empty, baseline_dir, *window, "--no-data-ok")
    assert outcome.code == 0 and outcome.report["verdict"] == "no_data"
    # Without the flag, both are failures naming what is missing.
    assert run_check(tmp_path / "strict", empty, baseline_dir, *window).code == 1


def test_no_baseline_publishes_no_metric(tmp_path):
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "NO_CHAMPION").write_bytes(b"")
    outcome = run_check(
        tmp_path, tmp_path / "nowhere", baseline, "--metrics-namespace", "fraud/DataDrift"
    )
    assert outcome.code == 0, outcome.message
    assert read(outcome.output / "cloudwatch_metrics.json")["MetricData"] == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "line 2 is not JSON"),
        (
            json.dumps({"captureData": {"endpointOutput": {}}}),
            "line 2 has no captureData.endpointInput",
        ),
    ],
)
def test_a_corrupt_capture_line_fails_naming_file_and_line(tmp_path, baseline_dir, line, expected):
    data = write_capture(tmp_path / "data", [capture_line("1"), line])
    outcome = run_check(tmp_path, data, baseline_dir)
    assert outcome.code == 1
    assert "capture.jsonl" in outcome.message and expected in outcome.message


# --- bad input ---------------------------------------------------------------------------


def run_baseline(tmp_path: Path, data_dir: Path, *extra: str) -> tuple[int, str]:
    message = tmp_path / "message"
    code = data_quality.main(
        [
            "baseline",
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(tmp_path / "out"),
            "--exit-message-file",
            str(message),
            *extra,
        ]
    )
    return code, message.read_text(encoding="utf-8") if message.exists() else ""


def schema_for(directory: Path, **changes) -> None:
    schema = {
        "label_column": LABEL,
        "columns": ["amount", "channel", LABEL],
        "feature_columns": ["amount", "channel"],
        "numeric_features": ["amount"],
        "categorical_features": ["channel"],
        "dropped_columns": {},
        **changes,
    }
    (directory / "schema.json").write_text(json.dumps(schema), encoding="utf-8")


def test_baseline_without_a_schema_names_the_path(tmp_path):
    data = write_table(tmp_path / "data", pd.DataFrame({"amount": [1.0], LABEL: [0]}))
    code, message = run_baseline(tmp_path, data)
    assert code == 1
    assert f"{data / 'schema.json'} not found" in message and "--schema" in message


def test_baseline_of_sharded_parts_asks_for_the_merged_schema(tmp_path):
    data = write_table(tmp_path / "data", pd.DataFrame({"amount": [1.0]}), "train-algo-1.parquet")
    (data / "schema-algo-1.json").write_text("{}", encoding="utf-8")
    code, message = run_baseline(tmp_path, data)
    assert code == 1
    assert "schema-algo-1.json" in message and "metadata.json" in message


def test_baseline_names_the_file_lacking_a_feature(tmp_path):
    data = write_table(tmp_path / "data", pd.DataFrame({"amount": [1.0, 2.0], LABEL: [0, 1]}))
    schema_for(data)
    code, message = run_baseline(tmp_path, data)
    assert code == 1
    assert f"{data / 'data.parquet'} lacks feature column(s) channel" in message


def test_baseline_names_a_non_numeric_value_its_column_row_and_file(tmp_path):
    frame = pd.DataFrame({"amount": ["1.5", "2", "12 EUR"], "channel": ["a", "b", "a"]})
    data = write_table(tmp_path / "data", frame.assign(**{LABEL: [0, 1, 0]}), "raw.csv")
    schema_for(data)
    code, message = run_baseline(tmp_path, data)
    assert code == 1
    assert "non-numeric value '12 EUR' in numeric feature 'amount' at row 3" in message
    assert str(data / "raw.csv") in message


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"notes.txt": "hello"}, "no data files in"),
        ({"empty.csv": ""}, "empty.csv is empty"),
        ({"bad.parquet": "not parquet"}, "cannot read"),
        (
            {"a.csv": "amount\n1\n", "b.jsonl": "{}\n"},
            "mixes tables (a.csv) and captured JSON Lines",
        ),
    ],
)
def test_check_names_bad_data_files(tmp_path, baseline_dir, files, expected):
    data = tmp_path / "data"
    data.mkdir()
    for name, text in files.items():
        (data / name).write_text(text, encoding="utf-8")
    outcome = run_check(tmp_path, data, baseline_dir)
    assert outcome.code == 1
    assert expected in outcome.message


def test_baseline_refuses_captured_data(tmp_path):
    data = write_capture(tmp_path / "data", [capture_line("1")])
    code, message = run_baseline(tmp_path, data)
    assert code == 1
    assert "a baseline is built from a table (CSV or Parquet)" in message


def test_check_names_a_missing_baseline_file(tmp_path, baseline_dir):
    partial = tmp_path / "baseline"
    partial.mkdir()
    (partial / "statistics.json").write_text("{}", encoding="utf-8")
    data = write_table(tmp_path / "data", generate_transactions(10, seed=1))
    outcome = run_check(tmp_path, data, partial)
    assert outcome.code == 1
    assert f"{partial / 'constraints.json'} not found" in outcome.message
    assert "NO_CHAMPION" in outcome.message


def test_check_refuses_a_baseline_it_did_not_write(tmp_path, baseline_dir):
    def edit(statistics, constraints):
        del constraints["drift_check"]

    baseline = copy_baseline(baseline_dir, tmp_path / "baseline", edit)
    data = write_table(tmp_path / "data", generate_transactions(10, seed=1))
    outcome = run_check(tmp_path, data, baseline)
    assert outcome.code == 1
    assert "has no drift_check section" in outcome.message

    def strip_bins(statistics, constraints):
        del statistics["features"][0]["drift_bins"]

    baseline = copy_baseline(baseline_dir, tmp_path / "other", strip_bins)
    outcome = run_check(tmp_path, data, baseline)
    assert outcome.code == 1
    assert "feature 'amount' is not a baseline written by" in outcome.message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["check", "--alpha", "1.5"], "--alpha must be at least 0 and below 1, got 1.5"),
        (["check", "--psi-threshold", "0"], "--psi-threshold must be above 0"),
        (["check", "--psi-min-rows", "0"], "--psi-min-rows must be at least 1"),
        (["check", "--start-time", "yesterday"], "--start-time 'yesterday' is not an ISO 8601"),
        (["baseline", "--psi-bins", "1"], "--psi-bins must be between 2 and 100"),
        (["baseline", "--psi-moderate", "0.3"], "--psi-moderate 0.3 is above --psi-threshold"),
        (["monitor"], "invalid arguments"),
        (["check", "--window-hours", "1"], "--window-hours needs --end-time"),
        (
            ["check", "--end-time", "2026-01-01T00:00:00Z", "--window-hours", "0"],
            "--window-hours must be above 0",
        ),
        (["check", "--export-dir", "x"], "--export-dir needs --end-time"),
        (["check", "--metrics-dimension", "Endpoint"], "expected NAME=VALUE"),
        (["check", "--publish-metrics"], "--publish-metrics needs --metrics-namespace"),
    ],
)
def test_bad_arguments_are_reported_in_the_message_file(tmp_path, arguments, expected):
    message = tmp_path / "message"
    code = data_quality.main([*arguments, "--exit-message-file", str(message)])
    assert code == 1
    assert expected in message.read_text(encoding="utf-8")


# --- the measures themselves -------------------------------------------------------------


def test_psi_formula_with_the_epsilon_floor():
    baseline = np.array([0.5, 0.5, 0.0])
    current = np.array([0.25, 0.5, 0.25])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert data_quality.psi(baseline, current) == pytest.approx(expected)
    assert data_quality.psi(baseline, baseline) == 0.0


def test_holm_adjusts_step_down_and_keeps_order():
    adjusted = data_quality.holm([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert data_quality.holm([]) == []


def test_ks_against_the_sketch_matches_scipy_when_the_sketch_holds_every_value():
    rng = np.random.default_rng(3)
    before, after = rng.normal(size=1500), rng.normal(0.1, size=900)
    base = data_quality.BaselineFeature("x", "numeric", "Fractional", rows=1500, present=1500)
    base.sketch = data_quality.sketch_items(np.sort(before), 2048)
    base.edges = data_quality.quantile_edges(np.sort(before), 10)
    base.counts = data_quality.bin_counts(before, base.edges).astype(float)
    column = data_quality.NumericValues(parts=[after], rows=900)
    result = data_quality.compare_numeric(base, column)
    reference = stats.ks_2samp(before, after, method="asymp")
    assert result["test"]["statistic"] == pytest.approx(reference.statistic)
    assert result["test"]["p_value"] == pytest.approx(reference.pvalue)
    robust = max(0.0, reference.statistic - 1.8 * math.sqrt((1500 + 900) / (1500 * 900)))
    assert result["linf"] == pytest.approx((reference.statistic, robust))


def test_the_sketch_keeps_evenly_spaced_ranks():
    values = np.arange(10_000, dtype=float)
    items = data_quality.sketch_items(values, 100)
    assert len(items) == 100
    assert items[0] == 50 and items[-1] == 9950
    assert np.all(np.diff(items) == 100)


def test_a_summarized_sketch_is_within_half_an_item_and_never_makes_the_test_kinder():
    rng = np.random.default_rng(4)
    before = np.sort(rng.lognormal(size=20_000))
    base = data_quality.BaselineFeature("x", "numeric", "Fractional", rows=20_000, present=20_000)
    base.sketch = data_quality.sketch_items(before, 200)
    base.edges = data_quality.quantile_edges(before, 10)
    base.counts = data_quality.bin_counts(before, base.edges).astype(float)
    for after in (rng.lognormal(size=3000), rng.lognormal(0.05, size=3000)):
        result = data_quality.compare_numeric(
            base, data_quality.NumericValues(parts=[after], rows=3000)
        )
        exact = stats.ks_2samp(before, after, method="asymp")
        assert abs(result["test"]["statistic"] - exact.statistic) <= 0.5 / 200 + 1 / 20_000
        assert result["test"]["p_value"] >= exact.pvalue * (1 - 1e-9)
    same = data_quality.compare_numeric(
        base, data_quality.NumericValues(parts=[before.copy()], rows=20_000)
    )
    assert same["test"]["p_value"] == 1.0
