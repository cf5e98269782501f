"""End-of-day training on a certified quality run: fit on its trades, print the held-out AUC.

Set it as the quality worker's training command, which runs it after a passing scheduled run:

    QUALITY_TRAINING_COMMAND="python examples/train_on_export.py"

The worker gives it `OPTRADE_EXPORT_PATH` (the run's certified trades as a local Parquet file,
or CSV), `OPTRADE_EXPORT_URL` (the same trades from `/quality/runs/{id}/trades`) and
`OPTRADE_RUN_ID`; `--export` reads another file instead. Label: the trade made money (net P&L,
or gross where charges were never recorded, > 0). Inputs: the numeric features (the
`features_snapshot` JSON column, or flattened `feature_*` columns) and the entry snapshot.
A logistic regression (scikit-learn, `pip install './clients/python[ml]'`) is fitted on the
earlier 75% of trades by close time and scored on the later 25%; it exits 1 when the export
cannot train a model (one class only, too few trades).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import pandas as pd

ENTRY = ["entry_delta", "entry_gamma", "entry_theta", "entry_vega", "entry_iv", "entry_spot",
         "entry_vix", "entry_pcr", "ml_score"]  # fmt: skip
HELD_OUT = 0.25


def load(path: str) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    if "features_snapshot" in frame.columns:  # the JSON column: one column per top-level key
        parsed = frame["features_snapshot"].map(
            lambda v: v if isinstance(v, dict) else json.loads(v) if isinstance(v, str) else {}
        )
        features = pd.json_normalize(parsed.tolist()).add_prefix("feature_")
        frame = pd.concat([frame.drop(columns="features_snapshot"), features], axis=1)
    return frame.sort_values("closed_at", kind="stable").reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", default=os.environ.get("OPTRADE_EXPORT_PATH"))
    args = parser.parse_args()
    if not args.export:
        parser.error("--export or OPTRADE_EXPORT_PATH is required")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = load(args.export)
    outcome = frame["net_pnl"].fillna(frame["pnl"]) if "net_pnl" in frame else frame["pnl"]
    labels = (outcome.astype(float) > 0).astype(int)
    numeric = [c for c in frame.columns if c.startswith("feature_") or c in ENTRY]
    inputs = frame[numeric].select_dtypes("number").astype(float)
    inputs = inputs.fillna(inputs.median()).fillna(0.0)
    run = os.environ.get("OPTRADE_RUN_ID", "-")
    print(f"run {run}: {len(frame)} trades, {inputs.shape[1]} inputs, {labels.mean():.0%} winners")
    cut = int(len(frame) * (1 - HELD_OUT))
    train, test = slice(0, cut), slice(cut, None)
    if labels[train].nunique() < 2 or labels[test].nunique() < 2:
        print("cannot train: each part needs winners and losers", file=sys.stderr)
        return 1
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(inputs[train], labels[train])
    auc = roc_auc_score(labels[test], model.predict_proba(inputs[test])[:, 1])
    print(f"held-out AUC: {auc:.4f} ({len(frame) - cut} trades)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
