"""Load the training export through the client and fit a small model on it.

Label: the trade made money (pnl > 0). Inputs: the model's own features (`feature_*` columns)
and the entry snapshot (Greeks, IV, spot, VIX, PCR). A logistic regression from scikit-learn
(`pip install './clients/python[ml]'`), scored by cross-validation when there are enough trades.

    python examples/fit_model.py --model-version toy-momentum-v1
"""

from __future__ import annotations

import argparse

from optrade_client import Optrade

ENTRY = ["entry_delta", "entry_gamma", "entry_theta", "entry_vega", "entry_iv", "entry_spot",
         "entry_vix", "entry_pcr"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-version", default=None)
    parser.add_argument(
        "--order-url", default=None, help="default: as the optrade CLI finds it (ORDER_PORT, ...)"
    )
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with Optrade({"order": args.order_url} if args.order_url else None) as optrade:
        frame = optrade.export(model_version=args.model_version)
    numeric = [c for c in frame.columns if c.startswith("feature_") or c in ENTRY]
    inputs = frame[numeric].select_dtypes("number").astype(float)
    inputs = inputs.fillna(inputs.median()).fillna(0.0)
    labels = (frame["pnl"] > 0).astype(int)
    print(f"{len(frame)} trades, {inputs.shape[1]} inputs, {labels.mean():.0%} winners")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = min(5, int(labels.value_counts().min()))
    if folds >= 2:
        scores = cross_val_score(model, inputs, labels, cv=folds)
        print(f"cross-validated accuracy {scores.mean():.2f} over {folds} folds")
    if labels.nunique() == 2:
        model.fit(inputs, labels)
        weights = model[-1].coef_[0]
        top = sorted(zip(inputs.columns, weights, strict=True), key=lambda w: -abs(w[1]))[:5]
        print("strongest inputs: " + ", ".join(f"{name} {weight:+.2f}" for name, weight in top))
    else:
        print("one class only: nothing to separate yet; trade longer")


if __name__ == "__main__":
    main()
