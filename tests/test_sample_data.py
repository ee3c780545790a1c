"""The synthetic fraud data: deterministic, realistic in shape, learnable but noisy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

from pipelines import sample_data
from pipelines.sample_data import CHUNK_ROWS, COLUMNS, generate_transactions

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
COMMITTED_SAMPLE = ROOT / "data" / "sample" / "transactions.csv"


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return generate_transactions(50_000, seed=7)


def test_same_seed_same_rows_other_seed_other_rows():
    first = generate_transactions(2_000, seed=3)
    pd.testing.assert_frame_equal(first, generate_transactions(2_000, seed=3))
    assert not first.equals(generate_transactions(2_000, seed=4))


def test_columns_types_and_ranges(transactions: pd.DataFrame):
    assert tuple(transactions.columns) == COLUMNS
    assert transactions["transaction_id"].is_unique
    assert transactions["transaction_id"].iloc[0] == "txn_00000001"
    assert transactions["amount"].gt(0).all()
    assert (transactions["amount"] * 100).round(6).mod(1).eq(0).all()  # two decimals
    assert transactions["hour"].between(0, 23).all()
    assert 12 <= transactions["merchant_category"].nunique() <= 15
    assert set(transactions["channel"]) == {"online", "in_store", "contactless", "atm"}
    for flag in ("country_mismatch", "is_new_device", "is_fraud"):
        assert set(transactions[flag]) == {0, 1}
    assert transactions["card_age_days"].ge(1).all()
    assert (transactions["txn_count_24h"] >= transactions["txn_count_1h"]).all()
    assert transactions["avg_amount_30d"].gt(0).all()
    assert 0.005 < transactions["distance_from_home_km"].isna().mean() < 0.015
    other_columns = transactions.drop(columns="distance_from_home_km")
    assert not other_columns.isna().any().any()


def test_fraud_is_about_three_percent(transactions: pd.DataFrame):
    assert 0.025 < transactions["is_fraud"].mean() < 0.035


def test_signal_is_learnable_but_noisy(transactions: pd.DataFrame):
    features = transactions.drop(columns=["transaction_id", "is_fraud"]).copy()
    for column in ("merchant_category", "channel"):
        features[column] = pd.factorize(features[column], sort=True)[0]
    categorical = [column in ("merchant_category", "channel") for column in features.columns]
    train, test = features.iloc[:35_000], features.iloc[35_000:]
    label = transactions["is_fraud"]
    model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=0)
    model.fit(train, label.iloc[:35_000])
    auc = roc_auc_score(label.iloc[35_000:], model.predict_proba(test)[:, 1])
    accuracy = accuracy_score(label.iloc[35_000:], model.predict(test))
    assert 0.85 <= auc <= 0.95
    assert accuracy >= 0.965


def test_risk_factors_raise_the_fraud_rate(transactions: pd.DataFrame):
    rate = transactions.groupby("country_mismatch")["is_fraud"].mean()
    assert rate[1] > 3 * rate[0]
    rate = transactions.groupby("is_new_device")["is_fraud"].mean()
    assert rate[1] > 3 * rate[0]


def test_chunks_concatenate_to_the_whole():
    rows = CHUNK_ROWS + 25
    chunks = list(sample_data.iter_transaction_chunks(rows, seed=5))
    assert [len(chunk) for chunk in chunks] == [CHUNK_ROWS, 25]
    whole = generate_transactions(rows, seed=5)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert whole["transaction_id"].is_unique


def test_zero_rows_gives_the_columns():
    empty = generate_transactions(0)
    assert len(empty) == 0
    assert tuple(empty.columns) == COLUMNS


def test_negative_rows_are_refused():
    with pytest.raises(ValueError, match="n_rows"):
        generate_transactions(-1)


def test_cli_streams_csv_identical_to_the_function(tmp_path):
    rows = CHUNK_ROWS + 10
    output = tmp_path / "nested" / "transactions.csv"
    assert sample_data.main(["--rows", str(rows), "--seed", "9", "-o", str(output)]) == 0
    expected = generate_transactions(rows, seed=9).to_csv(index=False, lineterminator="\n")
    assert output.read_text(encoding="utf-8") == expected


def test_cli_splits_the_rows_into_files(tmp_path):
    rows = CHUNK_ROWS + 7
    folder = tmp_path / "parts"
    arguments = ["--rows", str(rows), "--seed", "9", "--files", "3", "-o", str(folder)]
    assert sample_data.main(arguments) == 0
    paths = sorted(folder.iterdir())
    assert [p.name for p in paths] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    frames = [pd.read_csv(path) for path in paths]
    assert [len(frame) for frame in frames] == [33_336, 33_336, 33_335]
    pd.testing.assert_frame_equal(
        pd.concat(frames, ignore_index=True), generate_transactions(rows, seed=9)
    )


def test_cli_writes_parquet(tmp_path):
    output = tmp_path / "transactions.parquet"
    sample_data.main(["--rows", "500", "--seed", "2", "-o", str(output)])
    frame = pd.read_parquet(output)
    expected = generate_transactions(500, seed=2)
    assert list(frame.columns) == list(COLUMNS)
    np.testing.assert_array_equal(frame["amount"].to_numpy(), expected["amount"].to_numpy())
    assert frame["transaction_id"].tolist() == expected["transaction_id"].tolist()


def test_cli_as_a_module(tmp_path):
    output = tmp_path / "small.csv"
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.sample_data", "--rows", "20", "-o", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote 20 rows" in result.stderr
    assert len(output.read_text(encoding="utf-8").splitlines()) == 21


def test_committed_sample_is_the_generated_one():
    if not COMMITTED_SAMPLE.is_file():
        pytest.skip(f"{COMMITTED_SAMPLE} not generated yet")
    expected = generate_transactions(50_000, seed=7).to_csv(index=False, lineterminator="\n")
    # Byte-stable across pandas versions: the same file on the image and locally.
    assert COMMITTED_SAMPLE.read_bytes() == expected.encode("utf-8")
