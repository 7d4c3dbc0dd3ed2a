"""Batch scoring: ``mlcycle predict`` in a subprocess and ``mlcycle.predict``, real registry.

Scores must equal what ``mlcycle.load_model(ref)`` gives row for row, whatever the chunk
size; every bad row must be listed with its 1-based data row, never silently dropped.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.serving.conftest import FEATURES, numeric_frame, register_lgbm, register_pipeline

import mlcycle
from mlcycle.exceptions import BadParameterError, DataError, SchemaError
from mlcycle.schema import Schema
from mlcycle.serving import BatchReport, predict_file

PROBA = ["proba_0", "proba_1"]


def cli(home: Path, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", "predict", *map(str, args)],
        env={**os.environ, "MLCYCLE_HOME": str(home)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def errors_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def frame_with_ids(n: int, seed: int = 4) -> pd.DataFrame:
    X, _ = numeric_frame(n, seed=seed)
    X.insert(0, "id", [f"r{i:04d}" for i in range(n)])
    return X


def files(folder: Path) -> list[str]:
    """The files in ``folder``, the workspace (``home``, made by ``clean_env``) aside."""
    return sorted(p.name for p in folder.iterdir() if p.name != "home")


def leftovers(folder: Path) -> list[str]:
    return [name for name in files(folder) if "partial" in name]


# -- scores equal the model's own -----------------------------------------------------------


def test_csv_scored_in_chunks_equals_the_model(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    X = frame_with_ids(230)
    X.to_csv(tmp_path / "new.csv", index=False)
    done = cli(
        clean_env,
        "bench@production",
        "new.csv",
        "-o",
        "scored.csv",
        "--chunk-rows",
        "50",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Scored 230 of 230 rows with bench v1" in done.stdout
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == ["id", *FEATURES, "prediction", *PROBA]
    bundle = mlcycle.load_model("bench@production")
    assert scored["id"].tolist() == X["id"].tolist()
    np.testing.assert_allclose(scored[PROBA], bundle.predict_proba(X[FEATURES]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(scored["prediction"], bundle.predict(X[FEATURES]))
    assert not (tmp_path / "scored.errors.csv").exists()
    assert leftovers(tmp_path) == []


def test_parquet_scored_in_chunks_equals_the_model(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    X = frame_with_ids(175, seed=5)
    X.to_parquet(tmp_path / "new.parquet")
    done = cli(
        clean_env,
        "bench@production",
        "new.parquet",
        "-o",
        "scored.parquet",
        "--chunk-rows",
        "50",
        "--keep",
        "id",
        "--quiet",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rows_in"], report["rows_scored"], report["rows_refused"]) == (175, 175, 0)
    assert report["errors"] is None and report["model"] == "bench" and report["version"] == 1
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert list(scored.columns) == ["id", "prediction", *PROBA]
    expected = mlcycle.load_model("bench@production").predict_proba(X[FEATURES])
    np.testing.assert_allclose(scored[PROBA], expected, rtol=0, atol=1e-12)
    assert scored["id"].tolist() == X["id"].tolist()


def test_sdk_scores_a_dataframe_in_memory(clean_env: Path) -> None:
    register_lgbm()
    X = frame_with_ids(60).set_index("id")
    scores = mlcycle.predict("bench@production", X)
    assert list(scores.index) == list(X.index)
    assert list(scores.columns) == [*FEATURES, "prediction", *PROBA]
    expected = mlcycle.load_model("bench@production").predict_proba(X)
    np.testing.assert_allclose(scores[PROBA], expected, rtol=0, atol=1e-12)
    bad = X.astype(object)
    bad.iloc[3, 0] = "abc"
    with pytest.raises(SchemaError, match="Row 3, column 'f0': 'abc' is not a number"):
        mlcycle.predict("bench@production", bad)
    with pytest.raises(DataError, match="no rows"):
        mlcycle.predict("bench@production", X.iloc[:0])


def test_sdk_scores_a_file_in_memory(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    X = frame_with_ids(60)
    X.to_parquet(tmp_path / "new.parquet")
    scores = mlcycle.predict("bench@production", tmp_path / "new.parquet", keep=["id"])
    assert list(scores.columns) == ["id", "prediction", *PROBA]
    expected = mlcycle.load_model("bench@production").predict_proba(X[FEATURES])
    np.testing.assert_allclose(scores[PROBA], expected, rtol=0, atol=1e-12)
    bad = X.astype(object)
    bad.loc[3, "f0"] = "abc"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SchemaError, match="row 4, column 'f0': 'abc' is not a number"):
        mlcycle.predict("bench@production", tmp_path / "bad.csv", chunk_rows=2)
    with pytest.raises(DataError, match="score it in memory"):
        mlcycle.predict("bench@production", X, tmp_path / "out.csv")


def test_json_lines_values_pass_as_parsed(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    X = frame_with_ids(12)
    records = X.to_dict(orient="records")
    records[2]["f0"] = "abc"  # text where a number is expected
    records[9]["f4"] = "0.5"  # a number written as text is text in JSON
    del records[10]["f3"]  # an absent key is a missing value
    lines = [json.dumps(r) for r in records]
    lines.insert(5, "")  # blank lines are not records
    (tmp_path / "new.jsonl").write_text("\n".join(lines) + "\n")
    report = predict_file(
        "bench@production", tmp_path / "new.jsonl", tmp_path / "out.tsv", chunk_rows=4
    )
    assert (report.rows_in, report.rows_scored, report.rows_refused) == (12, 9, 3)
    errors = errors_of(tmp_path / "out.errors.csv")
    assert [(int(e["row"]), e["column"], e["code"]) for e in errors] == [
        (3, "f0", "wrong_type"),
        (10, "f4", "wrong_type"),
        (11, "f3", "missing_value"),
    ]
    assert errors[1]["message"] == "'0.5' is not a number."
    scored = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    good = X.drop(index=[2, 9, 10])
    assert scored["id"].tolist() == good["id"].tolist()
    expected = mlcycle.load_model("bench@production").predict_proba(good[FEATURES])
    np.testing.assert_allclose(scored[PROBA], expected, rtol=0, atol=1e-12)


def test_regression_model_gives_prediction_only(clean_env: Path, tmp_path: Path) -> None:
    import lightgbm as lgb

    X, _ = numeric_frame(300, seed=2)
    y = 3 * X["f0"] - X["f1"]
    model = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(X, y)
    mlcycle.register_model("price", model, schema=Schema.from_dataframe(X), alias="production")
    X.to_csv(tmp_path / "new.csv", index=False)
    report = predict_file(
        "price@production", tmp_path / "new.csv", tmp_path / "out.jsonl", chunk_rows=70
    )
    assert isinstance(report, BatchReport)
    assert (report.rows_in, report.rows_scored, report.rows_refused) == (300, 300, 0)
    scored = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert list(scored.columns) == [*FEATURES, "prediction"]
    expected = mlcycle.load_model("price@production").predict(X)
    np.testing.assert_allclose(scored["prediction"], expected, rtol=0, atol=1e-12)


# -- bad rows are listed, good rows still scored --------------------------------------------


def test_bad_cells_are_listed_by_file_row_across_chunks(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    X = frame_with_ids(160)
    text = X.astype(object)
    text.loc[7, "f0"] = "abc"  # data row 8, first chunk
    text.loc[49, "f2"] = ""  # row 50: last of the first chunk; NaN is refused (none in training)
    text.loc[50, "f2"] = "NaN"  # row 51: first of the second chunk
    text.loc[50, "f5"] = "1,5"  # a second issue on the same row
    text.loc[159, "f7"] = "inf"  # the very last row
    text.to_csv(tmp_path / "new.csv", index=False)
    done = cli(
        clean_env,
        "bench@production",
        "new.csv",
        "-o",
        "scored.parquet",
        "--chunk-rows",
        "50",
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert "4 rows refused" in done.stdout and "scored.errors.csv" in done.stdout
    errors = errors_of(tmp_path / "scored.errors.csv")
    found = [(int(e["row"]), e["column"], e["code"]) for e in errors]
    assert found == [
        (8, "f0", "wrong_type"),
        (50, "f2", "missing_value"),
        (51, "f2", "missing_value"),
        (51, "f5", "wrong_type"),
        (160, "f7", "out_of_range"),
    ]
    assert errors[0]["message"] == "'abc' is not a number."
    assert errors[3]["message"] == "'1,5' is not a number."
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    good = X.drop(index=[7, 49, 50, 159])
    assert scored["id"].tolist() == good["id"].tolist()
    expected = mlcycle.load_model("bench@production").predict_proba(good[FEATURES])
    np.testing.assert_allclose(scored[PROBA], expected, rtol=0, atol=1e-12)


def test_pipeline_model_reports_unseen_categories(clean_env: Path, tmp_path: Path) -> None:
    register_pipeline()
    rng = np.random.default_rng(5)
    n = 70
    frame = pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.normal(50, 10, n)),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "active": rng.random(n) < 0.5,
        }
    )
    text = frame.astype(object)
    text.loc[21, "plan"] = "gold"  # data row 22, second chunk of 20
    text.loc[40, "active"] = "maybe"  # row 41, first row of the third chunk
    text.loc[64, "age"] = "3.5"  # row 65
    text.to_csv(tmp_path / "customers.csv", index=False)
    done = cli(
        clean_env,
        "plans@production",
        "customers.csv",
        "-o",
        "scored.csv",
        "--chunk-rows",
        "20",
        "--keep",
        "customer",
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    errors = errors_of(tmp_path / "scored.errors.csv")
    assert [(int(e["row"]), e["column"], e["code"]) for e in errors] == [
        (22, "plan", "unseen_category"),
        (41, "active", "wrong_type"),
        (65, "age", "wrong_type"),
    ]
    assert errors[0]["message"].startswith("'gold' is not a known category")
    assert errors[1]["message"] == "'maybe' is not true or false."
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == ["customer", "prediction", "proba_no", "proba_yes"]
    good = frame.drop(index=[21, 40, 64])
    bundle = mlcycle.load_model("plans@production")
    assert scored["customer"].tolist() == good["customer"].tolist()
    expected = bundle.predict_proba(good.drop(columns="customer"))
    np.testing.assert_allclose(scored[["proba_no", "proba_yes"]], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        scored["prediction"], bundle.predict(good.drop(columns="customer"))
    )


def test_strict_writes_nothing(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    text = frame_with_ids(120).astype(object)
    text.loc[80, "f1"] = "abc"
    text.to_csv(tmp_path / "new.csv", index=False)
    done = cli(
        clean_env,
        "bench@production",
        "new.csv",
        "-o",
        "scored.csv",
        "--strict",
        "--chunk-rows",
        "50",
        cwd=tmp_path,
    )
    assert done.returncode == 1  # the input breaks the schema, as when rows are refused
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
    assert "row 81, column 'f1': 'abc' is not a number" in done.stderr
    assert files(tmp_path) == ["new.csv"]


def test_a_stale_errors_file_goes_when_every_row_passes(clean_env: Path, tmp_path: Path) -> None:
    register_lgbm()
    X = frame_with_ids(30)
    bad = X.astype(object)
    bad.loc[2, "f0"] = "abc"
    bad.to_csv(tmp_path / "new.csv", index=False)
    first = predict_file("bench@production", tmp_path / "new.csv", tmp_path / "out.csv")
    assert first.errors == tmp_path / "out.errors.csv" and first.rows_refused == 1
    X.to_csv(tmp_path / "new.csv", index=False)
    second = predict_file("bench@production", tmp_path / "new.csv", tmp_path / "out.csv")
    assert second.errors is None and second.rows_scored == 30
    assert not (tmp_path / "out.errors.csv").exists()


# -- bad input: exit code 2, one line, nothing written --------------------------------------


def _garbled(folder: Path) -> str:
    frame_with_ids(10).to_csv(folder / "bad.csv", index=False)
    with (folder / "bad.csv").open("ab") as handle:
        handle.write(b"r9999,caf\xe9,1\n")
    return "bad.csv"


def _write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return name


BAD_INPUTS = {
    "unknown alias": (lambda d: _write(d, "ok.csv", b"f0\n1\n"), "bench@nope", "no alias 'nope'"),
    "unknown model": (lambda d: _write(d, "ok.csv", b"f0\n1\n"), "ghost@production", "ghost"),
    "missing file": (lambda d: "absent.csv", "bench@production", "does not exist"),
    "empty file": (lambda d: _write(d, "e.csv", b""), "bench@production", "is empty"),
    "header only": (
        lambda d: _write(d, "h.csv", (",".join(FEATURES) + "\n").encode()),
        "bench@production",
        "no rows",
    ),
    "binary file": (
        lambda d: _write(d, "b.csv", b"\x00\x01ELF" * 50),
        "bench@production",
        "not a text file",
    ),
    "not utf-8": (_garbled, "bench@production", "not UTF-8"),
    "not parquet": (
        lambda d: _write(d, "p.parquet", b"f0\n1\n"),
        "bench@production",
        "not a Parquet file",
    ),
    "ragged row": (
        lambda d: _write(d, "r.csv", (",".join(FEATURES) + "\n" + "1," * 8 + "9\n").encode()),
        "bench@production",
        "9 fields where the header has 8",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line(clean_env: Path, tmp_path: Path, case: str) -> None:
    register_lgbm()
    make, ref, message = BAD_INPUTS[case]
    source = make(tmp_path)
    done = cli(clean_env, ref, source, "-o", "scored.parquet", "--chunk-rows", "4", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "scored.parquet").exists()
    assert leftovers(tmp_path) == []


def test_a_bad_chunk_late_in_the_file_leaves_no_half_output(
    clean_env: Path, tmp_path: Path
) -> None:
    register_lgbm()
    frame_with_ids(120).to_csv(tmp_path / "new.csv", index=False)
    with (tmp_path / "new.csv").open("a") as handle:
        handle.write("r9999,1,2\n")  # too few fields, in the third chunk
    with pytest.raises(DataError, match="3 fields where the header has 9"):
        predict_file("bench@production", tmp_path / "new.csv", tmp_path / "out.csv", chunk_rows=50)
    assert files(tmp_path) == ["new.csv"]


def test_refuses_paths_before_any_work(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    frame_with_ids(5).to_csv(tmp_path / "new.csv", index=False)
    # No model is registered: these fail on the paths alone, before the registry is asked.
    with pytest.raises(DataError, match="Give the output one of"):
        predict_file("bench@production", tmp_path / "new.csv", tmp_path / "out.xlsx")
    with pytest.raises(DataError, match="is the input file"):
        predict_file("bench@production", tmp_path / "new.csv", tmp_path / "new.csv")
    frame_with_ids(5).to_csv(tmp_path / "out.errors.csv", index=False)
    with pytest.raises(DataError, match=r"errors file 'out\.errors\.csv' is the input file"):
        predict_file("bench@production", "out.errors.csv", "out.csv")
    with pytest.raises(DataError, match="folder 'nowhere' does not exist"):
        predict_file("bench@production", "new.csv", "nowhere/out.csv")
    with pytest.raises(DataError, match="chunk_rows"):
        predict_file("bench@production", tmp_path / "new.csv", tmp_path / "o.csv", chunk_rows=0)
    register_lgbm()
    with pytest.raises(BadParameterError, match="Cannot keep 'nope'"):
        predict_file("bench@production", tmp_path / "new.csv", tmp_path / "o.csv", keep=["nope"])
    assert files(tmp_path) == ["new.csv", "out.errors.csv"]


# -- one contract: the server's checks and batch scoring give the same verdicts -------------


def test_the_server_and_batch_scoring_refuse_the_same_rows_with_the_same_codes(
    clean_env: Path, tmp_path: Path
) -> None:
    from mlcycle.serving import CompiledSchema
    from mlcycle.serving._input import rows_of

    register_pipeline()  # age integer (no gaps), income with gaps, plan category, active
    pool = {
        "age": [30, 45.0, 61, None, "x", 2.5, True, 2**70, ...],
        "income": [50.0, 12, None, "lots", [1], ...],
        "plan": ["basic", "pro", "plus", "gold", None, 3, {"a": 1}],
        "active": [True, False, None, "maybe", 1],
    }
    rng = np.random.default_rng(11)
    rows = []
    for i in range(240):
        good = i % 3 == 0  # a third of the rows are clean
        record = {
            name: values[0 if good else rng.integers(len(values))] for name, values in pool.items()
        }
        rows.append({k: v for k, v in record.items() if v is not ...})  # ...: key left out
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    compiled = CompiledSchema.build(mlcycle.load_model("plans@production").schema)
    served = {(i.row, i.column, i.code) for i in compiled.scan(*rows_of({"records": rows}))[1]}
    report = predict_file(
        "plans@production", tmp_path / "rows.jsonl", tmp_path / "out.parquet", chunk_rows=37
    )
    errors = errors_of(tmp_path / "out.errors.csv")
    batch = {(int(e["row"]) - 1, e["column"], e["code"]) for e in errors}

    assert batch == served
    assert {code for _, _, code in served} == {
        "missing_value", "wrong_type", "unseen_category", "out_of_range"
    }  # fmt: skip
    refused = {row for row, _, _ in served}
    assert report.rows_refused == len(refused) and 0 < len(refused) < len(rows)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert len(scored) == len(rows) - len(refused)


@pytest.mark.parametrize("gaps", [True, False], ids=["trained-with-gaps", "trained-without"])
@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_file_without_a_column_or_with_it_misspelt_is_refused(
    clean_env: Path, tmp_path: Path, gaps: bool, fmt: str
) -> None:
    from tests.serving.test_server import register_plans

    register_plans("plans", gaps=gaps)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({
        "id": [f"c{i}" for i in range(300)],
        "age": rng.normal(45, 12, 300),
        "income": rng.normal(50, 10, 300),
        "plan": rng.choice(["basic", "plus", "pro"], 300),
    })  # fmt: skip
    cases = {
        "absent": (frame.drop(columns="income"), "Column 'income' is missing from the input."),
        "misspelt": (
            frame.rename(columns={"age": "Age", "income": "Income"}),
            "Columns 'age', 'income' are missing from the input.",
        ),
    }
    for case, (data, message) in cases.items():
        source = tmp_path / f"{case}.{fmt}"
        if fmt == "csv":
            data.to_csv(source, index=False)
        elif fmt == "parquet":
            data.to_parquet(source)
        else:
            data.to_json(source, orient="records", lines=True)
        done = cli(clean_env, "plans@production", source.name, "-o", "out.csv", cwd=tmp_path)
        assert done.returncode == 1, (case, done.stderr)
        assert message in done.stderr and "Scored" not in done.stdout
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        if case == "misspelt":
            assert "'Age' is not one the model knows; did you mean 'age'?" in done.stderr
        assert not (tmp_path / "out.csv").exists() and leftovers(tmp_path) == []
        with pytest.raises(SchemaError, match="missing from the input"):
            mlcycle.predict("plans@production", data)
    scored = mlcycle.predict("plans@production", frame)  # the id column is carried through
    assert scored["id"].tolist() == frame["id"].tolist()
