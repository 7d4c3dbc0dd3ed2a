"""Personal data stays out of models and bundles (issue 14, finding 9).

A real table (scikit-learn's breast cancer data) with an e-mail, a name and a customer id
per patient: training leaves them out by default and says so; with ``allow_pii=True`` the
model uses them, but no raw address reaches the bundle's schema, monitoring reference or
explanations. Every file of the bundle is searched for the addresses, inside the skops zip
archives and the parquet sample too, as UTF-8 and as NumPy's UTF-32 text.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlcycle
from mlcycle.exceptions import DataError
from mlcycle.training import train

FAST = {"workers": 1, "progress": False, "explain": True, "card": True, "max_trials": 2}
PERSONAL = ["email", "full_name", "customer_id"]  # the columns conftest's patients add


def _texts(data: bytes) -> list[bytes]:
    """The bytes of a bundle file and, for a zip archive (skops), of every member."""
    if not data.startswith(b"PK"):
        return [data]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [data, *(archive.read(name) for name in archive.namelist())]


def _files_with_emails(ref: str, emails: list[str]) -> set[str]:
    """The bundle files in which any of ``emails`` appears, raw or in a parquet's values."""
    bundle = mlcycle.load_model(ref)
    found = set()
    for rel in bundle.files:
        data = bundle.read(rel)
        texts = _texts(data)
        if rel.endswith(".parquet"):  # compressed pages: read the values themselves
            texts.append(pd.read_parquet(io.BytesIO(data)).to_csv().encode())
        for text in texts:
            if any(e.encode() in text or e.encode("utf-32-le") in text for e in emails):
                found.add(rel)
    return found


def test_personal_data_and_ids_are_left_out_and_no_address_reaches_the_bundle(
    patients: pd.DataFrame, clean_env: Path
) -> None:
    result = train(patients, "diagnosis", families=["linear"], name="pii", budget=120, **FAST)

    assert not set(PERSONAL) & set(result.features)
    assert list(result.left_out) == PERSONAL
    assert "e-mail addresses" in result.left_out["email"]
    assert "person names" in result.left_out["full_name"]
    assert "identifier" in result.left_out["customer_id"]
    for column in PERSONAL:
        assert any(f"Left out of training: '{column}'" in w for w in result.warnings)
    assert result.summary()["left_out"] == result.left_out

    bundle = mlcycle.load_model("pii/1")
    assert bundle.schema is not None and not set(PERSONAL) & set(bundle.schema.feature_names)
    card = (bundle.extra_file("model_card.html") or b"").decode()
    assert "Left out of training: &#x27;email&#x27;" in card
    run = mlcycle.get_run(result.run_id)
    assert run.params["data.left_out"] == "email,full_name,customer_id"
    assert _files_with_emails("pii/1", list(patients["email"])) == set()
    # serving does not ask for the columns it left out
    rows = patients.drop(columns=[*PERSONAL, "diagnosis"]).head(5).to_dict("records")
    assert len(bundle.predict(rows)) == 5
    # nor refuses a client that sends the whole row: the left-out columns are ignored, unread
    assert bundle.schema.ignored == PERSONAL
    whole = patients.drop(columns=["diagnosis"]).head(5).to_dict("records")
    assert list(bundle.predict(whole)) == list(bundle.predict(rows))
    assert bundle.schema.column_issues([*whole[0]]) == []
    misspelt = bundle.schema.column_issues([*rows[0], "emial"])
    assert [i.code for i in misspelt] == ["unexpected_column"]  # an unknown key still is one


def test_allow_pii_trains_on_them_but_the_bundle_keeps_no_raw_address(
    patients: pd.DataFrame, clean_env: Path
) -> None:
    frame = patients[["mean radius", "email", "full_name", "customer_id", "diagnosis"]]
    result = train(
        frame, "diagnosis", families=["linear"], name="pii", allow_pii=True, budget=120, **FAST
    )

    assert set(PERSONAL) <= set(result.features) and result.left_out == {}
    assert any("Trained on 'email'" in w and "allow_pii" in w for w in result.warnings)
    emails = list(frame["email"])
    found = _files_with_emails("pii/1", emails)
    # the model target-encodes the addresses (what allow_pii asks for; this also shows that
    # the search finds them where they are); nothing else in the bundle holds one
    assert found == {"model/model.skops"}

    bundle = mlcycle.load_model("pii/1")
    sample = bundle.reference_sample()
    assert sample is not None and not set(PERSONAL) & set(sample.columns)
    drift = bundle.drift_reference
    assert drift is not None and set(PERSONAL) <= set(drift["skipped"])
    assert bundle.schema is not None
    email = bundle.schema.column("email")
    assert email.dtype == "string" and email.categories is None
    customer = bundle.schema.column("customer_id")
    assert customer.min is None and customer.max is None
    explanation = json.loads(bundle.read("explanation.json"))
    assert not set(PERSONAL) & set(explanation["partial_dependence"])
    # serving still accepts the column: any text, unseen addresses included
    rows = frame.drop(columns=["diagnosis"]).head(3).to_dict("records")
    rows[0]["email"] = "someone.new@example.org"
    assert len(bundle.predict(rows)) == 3


def test_a_table_of_personal_data_only_is_one_clear_error(
    patients: pd.DataFrame, clean_env: Path
) -> None:
    frame = patients[[*PERSONAL, "diagnosis"]]
    with pytest.raises(DataError, match=r"No feature is left.*'email'.*allow_pii=True"):
        train(frame, "diagnosis", families=["linear"], budget=60, **FAST)


def _with_check_digit(body: int) -> int:
    """``body`` followed by its Luhn check digit: a well-formed payment card number."""
    digits = [int(d) for d in str(body)][::-1]
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return body * 10 + (10 - total % 10) % 10


def test_the_profile_shows_no_value_of_a_personal_number() -> None:
    rng = np.random.default_rng(3)
    cards = [_with_check_digit(int(b)) for b in rng.integers(411111111111111, 499999999999999, 80)]
    frame = pd.DataFrame({"card_number": cards, "amount": rng.normal(size=80)})
    report = mlcycle.data.profile(frame)
    column = report.columns["card_number"]
    assert [f.kind for f in report.pii] == ["credit_card"] and column.masked
    assert column.stats is None and column.histogram is None
    assert not any(str(card) in report.to_json() for card in cards)
