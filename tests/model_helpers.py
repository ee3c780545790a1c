"""A real model trained the way the Preprocess and Train jobs train it, and sample feature
rows for it, shared by the inference-handler and `serve` tests.

Imports only what the SageMaker image has (plus the container scripts), so the container
tests can use it under `make test-image`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import preprocess
import train

from pipelines.sample_data import COLUMNS, LABEL_COLUMN

FEATURES = [c for c in COLUMNS if c not in ("transaction_id", LABEL_COLUMN)]
ROW = "120.5,jewelry,3,online,1,12,2,6,,40.0,1"
RECORD = {
    "amount": 120.5,
    "merchant_category": "jewelry",
    "hour": 3,
    "channel": "online",
    "country_mismatch": 1,
    "card_age_days": 12,
    "txn_count_1h": 2,
    "txn_count_24h": 6,
    "distance_from_home_km": None,
    "avg_amount_30d": 40.0,
    "is_new_device": 1,
}


def train_model(
    root: Path, frame: pd.DataFrame, label: str, problem_type: str, max_iter: int = 60
) -> Path:
    """Preprocess + train on `frame`; returns the model dir (as SageMaker would pack it)."""
    (root / "input").mkdir(parents=True)
    frame.to_csv(root / "input" / "data.csv", index=False)
    assert (
        preprocess.main(
            [
                *("--label-column", label, "--problem-type", problem_type),
                *("--input-dir", str(root / "input"), "--train-dir", str(root / "train")),
                *("--validation-dir", str(root / "validation"), "--test-dir", str(root / "test")),
                *("--exit-message-file", str(root / "message")),
            ]
        )
        == 0
    )
    env = {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_CHANNEL_TRAIN": str(root / "train"),
        "SM_CHANNEL_VALIDATION": str(root / "validation"),
        "SM_OUTPUT_DATA_DIR": str(root / "output"),
    }
    train.run(train.parse_args(["--max-iter", str(max_iter)], env=env))
    return root / "model"
