"""Drift detectors on seeded synthetic streams whose shifts are known in advance.

The reference: 20 features (8 normal, 10 lognormal, 2 categories), a binary target ``y`` and the
probability ``proba.1`` of a model that reads ``n0``. ``n0`` and ``n1`` are correlated (+0.8).
Each window is 5,000 rows of the same stream with at most one change; every test states exactly
which columns must drift and that all the others stay quiet.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.data import build_reference, reference_sample
from mlcycle.exceptions import BundleError, DataError, MlcycleError
from mlcycle.monitoring import DriftThresholds, drift

COLORS = np.array(["red", "green", "blue", "black"])
SIZES = np.array([f"s{i}" for i in range(8)])
FEATURES = [
    *(f"n{i}" for i in range(8)),
    *(f"l{i}" for i in range(10)),
    "color",
    "size",
]
WINDOW = 5000


def stream(rows: int, seed: int, shift: str | None = None) -> pd.DataFrame:
    """``rows`` rows of the synthetic stream, with one known ``shift`` (or none)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=rows)
    noise = rng.normal(size=rows)
    rho = -0.8 if shift == "correlation" else 0.8  # same marginals either way
    data = {"n0": 50 + 10 * z, "n1": 20 + 5 * (rho * z + 0.6 * noise)}
    for i in range(2, 8):
        data[f"n{i}"] = rng.normal(10 * i, 1 + i, rows)
    for i in range(10):
        data[f"l{i}"] = rng.lognormal(0, 0.5 + 0.05 * i, rows)
    data["color"] = COLORS[rng.choice(4, rows, p=[0.4, 0.3, 0.2, 0.1])]
    data["size"] = SIZES[rng.integers(0, 8, rows)]
    if shift == "mean":
        data["n3"] = data["n3"] + 0.5 * 4  # half a standard deviation
    elif shift == "variance":
        data["n5"] = 50 + (data["n5"] - 50) * 2.0  # same mean, twice the spread
    elif shift == "category":
        data["color"] = np.where(rng.random(rows) < 0.1, "purple", data["color"])
    elif shift == "model_input":
        data["n0"] = data["n0"] + 10.0
    elif shift == "missing":
        data["n2"] = np.where(rng.random(rows) < 0.3, np.nan, data["n2"])
    frame = pd.DataFrame(data)
    frame["y"] = (rng.random(rows) < (0.6 if shift == "label" else 0.3)).astype(np.int64)
    frame["proba.1"] = 1 / (1 + np.exp(-(frame["n0"] - 50) / 10))
    return frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return stream(20_000, seed=1)


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> dict:
    proba = reference["proba.1"].to_numpy()
    return build_reference(
        reference[FEATURES],
        probabilities=np.c_[1 - proba, proba],
        classes=[0, 1],
        target=reference["y"],
    )


@pytest.fixture(scope="module")
def sample(reference: pd.DataFrame) -> pd.DataFrame:
    return reference_sample(reference[FEATURES], rows=2000, seed=0)


def run(kind: str, reference, profile, sample, window, **options):
    """drift() against the reference DataFrame (exact tests) or the stored dict (quantiles)."""
    if kind == "frame":
        return drift(reference, window, target="y", **options)
    return drift(profile, window, reference_sample=sample, **options)


KINDS = ["frame", "dict"]


# -- windows with one known shift ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [7, 8, 9])
def test_unshifted_windows_are_quiet(kind, seed, reference, profile, sample) -> None:
    report = run(kind, reference, profile, sample, stream(WINDOW, seed))

    assert report.drifted == []
    assert [f.name for f in report.features] == FEATURES
    assert report.target is not None and not report.target.drifted
    assert report.multivariate is not None and not report.multivariate.drifted
    assert report.multivariate.auc < 0.6
    if kind == "dict":
        assert report.prediction is not None and report.prediction.name == "proba.1"
        assert not report.prediction.drifted


@pytest.mark.parametrize("kind", KINDS)
def test_mean_shift_flags_exactly_that_feature(kind, reference, profile, sample) -> None:
    report = run(kind, reference, profile, sample, stream(WINDOW, 7, "mean"), multivariate=False)

    assert report.drifted == ["n3"]
    n3 = report.feature("n3")
    assert n3.p_adjusted < 1e-50
    assert n3.wasserstein == pytest.approx(0.5, abs=0.05)  # in reference standard deviations
    assert [reason.split()[0] for reason in n3.reasons] == ["PSI", "KS", "Wasserstein", "adjusted"]
    assert not report.target.drifted


@pytest.mark.parametrize("kind", KINDS)
def test_variance_change_flags_exactly_that_feature(kind, reference, profile, sample) -> None:
    window = stream(WINDOW, 7, "variance")
    report = run(kind, reference, profile, sample, window, multivariate=False)

    assert report.drifted == ["n5"]
    assert window["n5"].mean() == pytest.approx(50, abs=0.5)  # the mean did not move
    assert report.feature("n5").ks >= 0.1


@pytest.mark.parametrize("kind", KINDS)
def test_new_category_flags_that_column(kind, reference, profile, sample) -> None:
    window = stream(WINDOW, 7, "category")
    report = run(kind, reference, profile, sample, window, multivariate=False)

    assert report.drifted == ["color"]
    color = report.feature("color")
    assert color.unseen_share == pytest.approx((window["color"] == "purple").mean())
    assert any(reason.startswith("unseen share") for reason in color.reasons)
    assert color.histogram["categories"] == ["red", "green", "blue", "black", "(other)"]


@pytest.mark.parametrize("kind", KINDS)
def test_label_shift_flags_the_target_not_the_features(kind, reference, profile, sample) -> None:
    report = run(kind, reference, profile, sample, stream(WINDOW, 7, "label"), multivariate=False)

    assert report.drifted == []
    assert report.target is not None and report.target.name == "y"
    assert report.target.drifted
    assert report.target.histogram["categories"] == ["0", "1", "(other)"]


def test_prediction_drift_follows_the_input_the_model_reads(profile, sample) -> None:
    report = drift(profile, stream(WINDOW, 7, "model_input"), multivariate=False)

    assert report.drifted == ["n0"]
    assert report.prediction is not None and report.prediction.name == "proba.1"
    assert report.prediction.drifted


def test_outputs_are_found_by_the_prediction_log_names(reference) -> None:
    # regression: the log keeps the value as text (prediction) and as a float (prediction_value)
    regression = build_reference(reference[FEATURES], predictions=reference["n0"] * 2)
    window = stream(WINDOW, 7, "model_input")
    window["prediction_value"] = window["n0"] * 2
    window["prediction"] = window["prediction_value"].map("{:.3f}".format)
    report = drift(regression, window, multivariate=False)
    assert report.prediction is not None and report.prediction.name == "prediction_value"
    assert report.prediction.drifted

    # feedback labels arrive as text in 'label', for a few of the predictions only
    classifier = build_reference(reference[FEATURES], target=reference["y"], classes=[0, 1])
    window = stream(WINDOW, 7, "label").drop(columns="y")
    labelled = stream(WINDOW, 7, "label")["y"].astype(str).where(np.arange(WINDOW) % 3 == 0)
    report = drift(classifier, window.assign(label=labelled), multivariate=False)
    assert report.target is not None and report.target.name == "label"
    assert report.target.drifted
    assert report.target.reasons[-1].startswith("adjusted p")
    assert report.target.missing_share_current == pytest.approx(1 - 1667 / WINDOW)  # not tested


@pytest.mark.parametrize("kind", KINDS)
def test_missing_values_flag_the_column(kind, reference, profile, sample) -> None:
    report = run(kind, reference, profile, sample, stream(WINDOW, 7, "missing"), multivariate=False)

    assert report.drifted == ["n2"]
    n2 = report.feature("n2")
    assert n2.missing_share_reference == 0.0
    assert n2.missing_share_current == pytest.approx(0.3, abs=0.02)
    assert any(reason.startswith("missing share") for reason in n2.reasons)
    assert n2.ks < 0.1  # the values that are there did not move


@pytest.mark.parametrize("kind", KINDS)
def test_correlation_flip_is_caught_only_by_the_domain_classifier(
    kind, reference, profile, sample
) -> None:
    report = run(kind, reference, profile, sample, stream(WINDOW, 7, "correlation"))

    assert report.drifted == []  # every marginal is unchanged
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.multivariate.auc > 0.75
    assert {name for name, _ in report.multivariate.top_features[:2]} == {"n0", "n1"}


def test_a_million_rows_do_not_flag_a_trivial_shift(profile, sample) -> None:
    window = stream(1_000_000, 11)
    window["n3"] += 0.06 * 4  # 0.06 standard deviations: significant at this size, trivial

    report = drift(profile, window, reference_sample=sample)

    assert report.drifted == []
    assert report.feature("n3").p_adjusted < 0.05  # the test sees it; the effect size does not
    assert report.prediction is not None and not report.prediction.drifted
    assert not report.multivariate.drifted


# -- what the numbers are ------------------------------------------------------------------


def test_frame_reference_gives_the_exact_two_sample_statistics(reference) -> None:
    window = stream(WINDOW, 7, "variance")
    report = drift(reference, window, multivariate=False)

    for name in ("n5", "l3"):
        a, b = reference[name].to_numpy(), window[name].to_numpy()
        exact = stats.ks_2samp(a, b, method="asymp")
        found = report.feature(name)
        assert found.ks == pytest.approx(exact.statistic, rel=1e-12)
        assert found.ks_p == pytest.approx(exact.pvalue, rel=1e-6, abs=1e-300)
        assert found.wasserstein == pytest.approx(stats.wasserstein_distance(a, b) / a.std())


def test_dict_reference_ks_is_within_one_grid_step_of_exact(reference, profile) -> None:
    window = stream(WINDOW, 7, "mean")
    exact = drift(reference, window, multivariate=False)
    approx = drift(profile, window, multivariate=False)

    for name in FEATURES[:18]:
        assert abs(exact.feature(name).ks - approx.feature(name).ks) <= 0.01
        assert exact.feature(name).psi == approx.feature(name).psi  # same bins, same counts


def test_pyarrow_table_gives_the_same_report(profile, sample) -> None:
    window = stream(WINDOW, 7, "category")
    from_frame = drift(profile, window, reference_sample=sample).to_dict()
    from_table = drift(profile, pa.Table.from_pandas(window), reference_sample=sample).to_dict()

    assert from_table == from_frame


def test_category_values_match_as_text_across_dtypes() -> None:
    reference = pd.DataFrame({"code": pd.Series([1, 2, 3] * 100, dtype="category")})
    window = pd.DataFrame({"code": [1.0, 2.0, np.nan] * 100})  # integers widened by a NaN

    found = drift(build_reference(reference), window, multivariate=False).feature("code")

    assert found.unseen_share == 0.0
    assert found.missing_share_current == pytest.approx(1 / 3)


def test_report_is_json_safe_and_summarised_in_one_line(profile, sample) -> None:
    report = drift(profile, stream(WINDOW, 7, "mean"), reference_sample=sample)

    json.dumps(report.to_dict(), allow_nan=False)
    assert report.share_drifted == 1 / 20
    line = report.summary()
    assert "\n" not in line
    assert line.startswith("Drift in 1 of 20 features (5%): n3;")
    assert report.to_dict()["features"][0]["histogram"]["edges"][0] is None


def test_thresholds_can_be_raised_and_are_validated(profile) -> None:
    window = stream(WINDOW, 7, "mean")
    lenient = DriftThresholds(psi=5, ks=0.5, wasserstein=5)

    assert drift(profile, window, thresholds=lenient, multivariate=False).drifted == []
    with pytest.raises(MlcycleError, match=r"The 'psi' parameter of DriftThresholds\(\) must be"):
        DriftThresholds(psi=-1)
    with pytest.raises(MlcycleError, match="'auc' parameter"):
        DriftThresholds(auc=0.4)


def test_small_windows_need_significance_for_psi(profile) -> None:
    report = drift(profile, stream(40, 7), multivariate=False)

    # PSI of 40 rows in ten bins is about 0.2 from chance alone: it may not flag by itself
    assert report.drifted == []


def test_reference_dict_without_sample_skips_multivariate(profile) -> None:
    report = drift(profile, stream(WINDOW, 7))

    assert report.multivariate is None
    assert any("Multivariate drift not tested" in note for note in report.notes)


def test_bundle_reference(tmp_path, reference, profile, sample) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(reference[["n0"]], reference["y"])
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    write_bundle(
        model,
        tmp_path / "bundle",
        reference_profile={"drift": profile},
        extra_files={"reference_sample.parquet": buffer.getvalue()},
    )
    bundle = read_bundle(tmp_path / "bundle")

    report = drift(bundle, stream(WINDOW, 7, "correlation"))
    assert report.multivariate is not None and report.multivariate.drifted

    write_bundle(model, tmp_path / "plain")
    with pytest.raises(BundleError, match="no drift reference"):
        drift(read_bundle(tmp_path / "plain"), stream(100, 7))


# -- bad input -----------------------------------------------------------------------------


def test_bad_input_is_refused_in_one_line(reference, profile) -> None:
    window = stream(100, 7)
    with pytest.raises(DataError, match="current data has no rows"):
        drift(profile, window.iloc[:0])
    with pytest.raises(DataError, match="None of the reference's features are in the current"):
        drift(profile, window.rename(columns=str.upper))
    with pytest.raises(DataError, match="Column 'n0' is numeric in the reference but not"):
        drift(profile, window.assign(n0="high"))
    with pytest.raises(MlcycleError, match="The 'current' parameter of drift"):
        drift(profile, window.to_dict("records"))
    with pytest.raises(MlcycleError, match="The 'reference' parameter of drift"):
        drift([1, 2], window)
    with pytest.raises(DataError, match="not a drift reference"):
        drift({"features": {}}, window)
    with pytest.raises(MlcycleError, match="The 'alpha' parameter of drift"):
        drift(profile, window, alpha=1.5)
    with pytest.raises(DataError, match="Unknown feature 'age'"):
        drift(profile, window, features=["age"])
