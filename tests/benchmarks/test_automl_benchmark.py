"""benchmarks/automl.py: mlcycle against each rival under issue 15's floors, the budget floor,
the default HistGradientBoosting contender and ``--load``'s busy loop."""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    """automl.py as the driver imports it (its folder first on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import automl

    return automl


def _regression(n: int, seed: int) -> tuple[dict[str, Any], list[float]]:
    rng = random.Random(seed)
    y = [rng.gauss(0, 1) for _ in range(n)]
    meta = {"task": "regression", "y_test": y, "rows": n * 4}
    return meta, y


def _record(y: list[float], noise: float, seed: int, **extra: Any) -> dict[str, Any]:
    """A scored worker result whose predictions miss ``y`` by Gaussian ``noise``."""
    from automl_report import r2

    rng = random.Random(seed)
    predictions = [v + rng.gauss(0, noise) for v in y]
    return {"ok": True, "predictions": predictions, "score": r2(y, predictions), **extra}


def test_mlcycle_is_compared_with_each_rival_under_its_floors(bench: Any) -> None:
    """Against FLAML mlcycle is better everywhere; against HGB it is clearly worse on the big
    table (its whole interval below -0.01), so only that rival fails the interval floor."""
    from automl_report import compare, score_table, summary_text

    metas, results = {}, {}
    for i, name in enumerate(["small", "mid", "big"]):
        meta, y = _regression(100 if name != "big" else 2000, seed=i)
        metas[name] = meta
        results[name] = {
            "mlcycle": _record(y, 0.30, seed=10 + i),
            "flaml": _record(y, 0.60, seed=20 + i),
            "hgb": _record(y, 0.20 if name == "big" else 0.31, seed=30 + i),
        }
    flaml_rows, flaml = compare(metas, results, "flaml")
    hgb_rows, hgb = compare(metas, results, "hgb")

    assert all(flaml["floors"].values())
    assert flaml["wins"] == 3 and flaml["wholly_below_floor"] == []
    big = hgb_rows[2]
    assert big["outcome"] == "loss" and big["interval"][1] < -0.01
    assert hgb["wholly_below_floor"] == ["big"]
    assert hgb["floors"]["no data set whose 95 % interval lies wholly below -0.01"] is False
    assert "mlcycle vs HGB" in summary_text(hgb) and "FAIL" in summary_text(hgb)

    table = score_table(metas, results, ["mlcycle", "flaml", "hgb"],
                        {"flaml": flaml_rows, "hgb": hgb_rows}, markdown=True)  # fmt: skip
    head = table.splitlines()[0]
    assert "vs FLAML" in head and "95 % vs HGB" in head and "result vs HGB" in head


def test_a_loss_its_test_rows_cannot_tell_from_chance_passes_the_interval_floor(
    bench: Any,
) -> None:
    """Worse by more than 0.01 on a table of 12 test rows, but the interval reaches above
    -0.01: the floor of issue 15 passes where the old worst-difference floor failed."""
    from automl_report import compare

    meta, y = _regression(12, seed=1)
    mine, rival = _record(y, 0.42, seed=101), _record(y, 0.40, seed=201)
    rows, summary = compare({"tiny": meta}, {"tiny": {"mlcycle": mine, "hgb": rival}}, "hgb")

    assert rows[0]["diff"] < -0.01 and rows[0]["interval"][1] > -0.01
    assert summary["wholly_below_floor"] == []


def test_every_mlcycle_fit_must_end_within_ten_percent_of_its_budget(bench: Any) -> None:
    from automl_report import budget_kept, budget_text

    def results(*seconds: float | None) -> dict[str, Any]:
        return {
            f"t{i}": {"mlcycle": {"ok": s is not None, "fit_seconds": s}}
            for i, s in enumerate(seconds)
        }

    assert budget_kept(results(59.0, 66.0), 60, "mlcycle")["kept"] is True
    late = budget_kept(results(59.0, 66.5), 60, "mlcycle")
    assert late["kept"] is False and late["over"] == ["t1"] and late["max_dataset"] == "t1"
    crashed = budget_kept(results(59.0, None), 60, "mlcycle")
    assert crashed["kept"] is False and crashed["failed"] == ["t1"]
    assert "FAIL  every mlcycle fit ends within 10% of its budget" in budget_text(
        {"mlcycle": late}, load=True
    )


def test_load_runs_are_cached_apart_from_quiet_ones(bench: Any, tmp_path: Path) -> None:
    quiet = bench.cache_path(tmp_path, "flaml", "wine", 60.0, 0)
    loaded = bench.cache_path(tmp_path, "flaml", "wine", 60.0, 0, load=True)

    assert quiet.name == "flaml__wine__b60__s0.json"  # the names results were cached under
    assert loaded != quiet and "load" in loaded.name


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU pinning is Linux-only")
def test_the_busy_loop_runs_on_one_cpu_while_the_block_runs(bench: Any) -> None:
    cpu = max(os.sched_getaffinity(0))
    with bench.cpu_hog(cpu) as hog:
        assert hog.poll() is None
        # the loop pins itself first thing; wait for it rather than for a clock
        while os.sched_getaffinity(hog.pid) != {cpu}:
            assert hog.poll() is None
    assert hog.returncode is not None


def test_default_hgb_fits_category_columns_and_missing_values(bench: Any) -> None:
    from automl_report import score

    rng = random.Random(0)
    n = 240
    colour = [rng.choice(["red", "green", "blue"]) for _ in range(n)]
    size = [rng.random() if rng.random() > 0.2 else None for _ in range(n)]
    label = [
        "yes" if (c == "red") != ((s or 0.5) > 0.7) else "no"
        for c, s in zip(colour, size, strict=True)
    ]
    frame = pd.DataFrame({"colour": pd.Categorical(colour), "size": size, "label": label})
    train, test = frame.iloc[:180], frame.iloc[180:]
    meta = {"task": "binary", "target": "label", "y_test": label[180:], "classes": ["no", "yes"]}

    out = bench._fit_hgb(train, test, meta, argparse.Namespace(seed=0))

    assert out["best_model"] == "HistGradientBoostingClassifier"
    assert out["fit_seconds"] > 0 and len(out["probabilities"]) == 60
    assert score(meta, out) > 0.9  # the category and the missing values were used
