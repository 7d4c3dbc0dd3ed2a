"""One model, one answer: the same rows through every door give the same labels and
probabilities — TrainResult, load_model, the server (native and ONNX), batch scoring and
the retrain gate — including rows whose probability lies between 0.5 and the tuned
threshold, where a door that forgot the threshold would answer differently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import mlcycle
from mlcycle.monitoring._gate import load_champion, predict_outputs
from mlcycle.registry import get_workspace
from mlcycle.serving import predict as batch_predict


def _churn(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 15, n).round(1),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )
    logit = 0.05 * (frame.age - 45) + 0.04 * (frame.income - 50) + (frame.plan == "pro") - 1.4
    frame["churned"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


def test_five_doors_give_identical_labels_and_probabilities(live, clean_env: Path) -> None:
    frame = _churn()
    result = mlcycle.train(
        frame, target="churned", budget=20, families=["linear"], workers=1, max_trials=4,
        name="doors", alias="production", explain=False, card=False, progress=False,
    )  # fmt: skip
    threshold = result.threshold
    assert threshold is not None and abs(threshold - 0.5) > 0.02
    X = frame.drop(columns="churned")
    proba_sdk = result.predict_proba(X)
    labels_sdk = result.predict(X)
    between = (proba_sdk[:, 1] >= min(threshold, 0.5)) & (proba_sdk[:, 1] < max(threshold, 0.5))
    assert between.sum() >= 3, "the test needs rows between 0.5 and the tuned threshold"

    # load_model
    bundle = mlcycle.load_model("doors@production")
    assert bundle.decision.threshold == threshold
    np.testing.assert_array_equal(bundle.predict(X), labels_sdk)
    np.testing.assert_allclose(bundle.predict_proba(X), proba_sdk, rtol=0, atol=1e-12)

    # the server, native and ONNX
    records = X.to_dict(orient="records")
    for engine in ("native", "onnx"):
        server = live(["doors@production"], engine=engine, log_predictions=False)
        with server.client() as client:
            info = client.get("/v1/models/doors").json()["targets"]["production"]
            assert info["engine"] == engine and info["decision_threshold"] == threshold
            answer = client.post("/v1/models/doors/predict", json={"records": records}).json()
        assert answer["predictions"] == list(labels_sdk), engine
        np.testing.assert_allclose(answer["probabilities"], proba_sdk, rtol=0, atol=1e-5)

    # batch scoring (mlcycle predict)
    scored = batch_predict("doors@production", X)
    assert list(scored["prediction"]) == list(labels_sdk)
    np.testing.assert_allclose(scored["proba_yes"], proba_sdk[:, 1], rtol=0, atol=1e-12)

    # the retrain gate scores the champion as a promotion would serve it
    champion = load_champion("doors", "production", get_workspace())
    gated = predict_outputs(
        champion.model,
        X[champion.bundle.schema.feature_names],
        task=champion.task,
        classes=np.asarray(champion.classes),
        threshold=champion.threshold,
    )
    assert list(gated.predictions) == list(labels_sdk)
    # a door that ignored the threshold would disagree exactly on the rows in between
    argmax = np.asarray(bundle.decision.classes)[np.argmax(proba_sdk, axis=1)]
    assert (argmax != labels_sdk).sum() == between.sum()


def test_a_bundle_stored_as_onnx_registers_serves_and_answers_like_its_source(
    live, clean_env: Path
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mlcycle.data import build_preparer
    from mlcycle.flavours import to_onnx
    from mlcycle.schema import Schema

    frame = _churn()
    X, y = frame.drop(columns="churned"), frame["churned"]
    source = make_pipeline(build_preparer(X, task="binary"), LogisticRegression(max_iter=500))
    source.fit(X, y)
    schema = Schema.from_dataframe(X)
    version = mlcycle.register_model(
        "churn-onnx", to_onnx(source, schema), schema=schema, alias="production",
        decision_threshold=0.4,
    )  # fmt: skip
    bundle = mlcycle.load_model("churn-onnx@production")
    assert bundle.flavour == "onnx" and version.version == 1
    out = bundle.predict_outputs(X)
    np.testing.assert_allclose(out.probabilities, source.predict_proba(X), rtol=0, atol=1e-5)
    assert list(out.labels) == list(np.where(out.probabilities[:, 1] >= 0.4, "yes", "no"))

    server = live(["churn-onnx@production"], log_predictions=False)
    with server.client() as client:
        info = client.get("/v1/models/churn-onnx").json()["targets"]["production"]
        records = X.head(50).to_dict(orient="records")
        answer = client.post("/v1/models/churn-onnx/predict", json={"records": records}).json()
    assert info["engine"] == "onnx" and "own ONNX graph" in info["engine_note"]
    assert answer["predictions"] == list(out.labels[:50])
    np.testing.assert_allclose(answer["probabilities"], out.probabilities[:50], atol=1e-6)
