"""The HTML drift report (inline SVG, aggregated, small on wide data) and its JSON."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from mlcycle.monitoring._report import CHARTED, render_drift_report, report_json


def _numeric(name: str, *, drifted: bool, psi: float, shift: float = 0.0) -> dict[str, Any]:
    current = [max(0.0, 0.1 + shift * (i - 4.5) / 10) for i in range(10)]
    total = sum(current)
    return {
        "name": name, "kind": "numeric", "drifted": drifted,
        "reasons": ["PSI 0.31 >= 0.2", "KS 0.22 >= 0.1"] if drifted else [],
        "psi": psi, "ks": 0.22 if drifted else 0.02, "ks_p": 1e-12 if drifted else 0.6,
        "wasserstein": 0.5 if drifted else 0.01, "chi2_p": None, "js": None,
        "p_value": 1e-12 if drifted else 0.6, "p_adjusted": 3e-12 if drifted else 0.9,
        "missing_share_reference": 0.0, "missing_share_current": 0.02 if drifted else 0.0,
        "unseen_share": None,
        "histogram": {
            "edges": [None, *[round(-2 + 0.5 * i, 2) for i in range(9)], None],
            "reference": [0.1] * 10, "current": [c / total for c in current],
        },
    }  # fmt: skip


def _category(name: str) -> dict[str, Any]:
    return {
        "name": name, "kind": "category", "drifted": False, "reasons": [], "psi": 0.012,
        "ks": None, "ks_p": None, "wasserstein": None, "chi2_p": 0.4, "js": 0.04,
        "p_value": 0.4, "p_adjusted": 0.6, "missing_share_reference": 0.0,
        "missing_share_current": 0.0, "unseen_share": 0.01,
        "histogram": {
            "categories": ["basic", "plus", "pro", "(other)"],
            "reference": [0.6, 0.3, 0.1, 0.0], "current": [0.55, 0.33, 0.1, 0.02],
        },
    }  # fmt: skip


@pytest.fixture
def report() -> dict[str, Any]:
    """Shaped like ``DriftReport.to_dict()`` (see the issue's interface spec)."""
    return {
        "features": [
            _numeric("tenure", drifted=False, psi=0.01),
            _category("plan"),
            _numeric("income", drifted=True, psi=0.31, shift=0.5),
        ],
        "prediction": {**_numeric("prediction", drifted=True, psi=0.27, shift=0.3)},
        "target": None,
        "multivariate": {
            "auc": 0.74, "drifted": True, "top_features": [["income", 0.61], ["plan", 0.05]],
            "rows_reference": 2000, "rows_current": 1000,
        },
        "drifted": ["income"], "share_drifted": 1 / 3,
        "rows_reference": 5000, "rows_current": 1200, "alpha": 0.05,
        "thresholds": {"psi": 0.2, "ks": 0.1}, "notes": ["The target is not in the current rows."],
    }  # fmt: skip


class _Page(HTMLParser):
    """Collects tags and ids, and fails on what a self-contained page must not have."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if "id" in values:
            self.ids.append(str(values["id"]))
        for key in ("src", "href"):
            assert not (values.get(key) or "#").lstrip().startswith(("http", "//")), values

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def test_the_page_summarises_then_lists_features_most_drifted_first(
    report: dict[str, Any],
) -> None:
    page = render_drift_report(report, title="Drift: churn v3")
    parsed = _parse(page)
    text = " ".join(parsed.text)
    assert "<title>Drift: churn v3</title>" in page
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert "Drift detected" in text and "1 feature(s) drifted: income" in text
    assert "the current rows can be told from the reference rows (AUC 0.74)" in text
    assert "the prediction drifted" in text
    for tile in ("5,000", "1,200", "1 of 3", "33.3%", "0.74 (drift)"):
        assert tile in text
    assert "The target is not in the current rows." in text
    table = page[page.index("<table>") :]
    order = [table.index(f">{name}<") for name in ("income", "plan", "tenure")]
    assert order == sorted(order)  # drifted first, then by PSI
    assert "PSI 0.31 &gt;= 0.2, KS 0.22 &gt;= 0.1" in page  # the reasons, escaped
    assert "What tells the current rows from the reference rows" in text
    assert "prediction: prediction" in text  # the prediction's own card
    # one chart per feature (3) plus the prediction's, the domain-classifier bars
    assert page.count("<svg") == 5
    assert len(parsed.ids) == len(set(parsed.ids)) == 3


def test_no_drift_reads_as_such_and_an_object_with_to_dict_works(
    report: dict[str, Any],
) -> None:
    calm = copy.deepcopy(report)
    calm["features"] = [_numeric("tenure", drifted=False, psi=0.01), _category("plan")]
    calm["prediction"] = calm["multivariate"] = None
    calm["drifted"], calm["share_drifted"] = [], 0.0

    class Report:
        def to_dict(self) -> dict[str, Any]:
            return calm

    page = render_drift_report(Report())
    assert "No drift detected." in page and "Drift over time" not in page
    with pytest.raises(Exception, match="'report' parameter of render_drift_report"):
        render_drift_report([1, 2])


def test_drift_over_time_is_drawn_from_the_history(report: dict[str, Any]) -> None:
    history = [
        {"window": "2026-12-01", "share_drifted": 0.0, "max_psi": 0.05, "anomaly_share": 0.01},
        {"window": "2026-12-02", "share_drifted": 0.1, "max_psi": 0.12, "anomaly_share": None},
        {"window": "2026-12-03", **report},  # a whole report per window works too
    ]
    page = render_drift_report(report, history=history)
    section = page[page.index("Drift over time") : page.index("<table>")]
    for title in ("Share of features drifted", "Largest PSI of a feature",
                  "Multivariate drift", "Share of anomalous rows"):  # fmt: skip
        assert title in section
    assert section.count("<svg") == 4
    assert "2026-12-03: 0.31" in section  # the largest PSI, from the window's features
    assert "2026-12-01" in section and "2026-12-03</text>" in section
    assert "stroke-dasharray" in section  # the PSI 0.25 reference line


def test_a_feature_name_cannot_inject_markup(report: dict[str, Any]) -> None:
    report["features"][2]["name"] = "<script>alert(1)</script>"
    page = render_drift_report(report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_thousand_features_stay_small(report: dict[str, Any]) -> None:
    wide = copy.deepcopy(report)
    wide["features"] = [
        _numeric(f"x{i:04d}", drifted=i % 7 == 0, psi=(i % 50) / 100, shift=(i % 5) / 10)
        if i % 3
        else _category(f"x{i:04d}")
        for i in range(1000)
    ]
    page = render_drift_report(wide)
    assert len(page.encode("utf-8")) < 2_000_000
    assert page.count("<section class='card' id=") == CHARTED
    assert "(970 more in the table)" in page
    rows = re.findall(r"<tr(?: class=d)?><td>", page)
    assert len(rows) == 1000


def test_the_json_is_the_report_with_nan_as_null(report: dict[str, Any]) -> None:
    report["features"][0]["psi"] = float("nan")
    history = [{"window": "2026-12-01", "max_psi": float("inf")}]
    data = json.loads(report_json(report, history=history))
    assert data["features"][0]["psi"] is None
    assert data["history"] == [{"window": "2026-12-01", "max_psi": None}]
    assert data["multivariate"] == report["multivariate"]
    assert json.loads(report_json(report))["drifted"] == ["income"]


def test_a_real_drift_report_renders() -> None:
    """The contract with mlcycle.monitoring's drift(): its DriftReport renders as is."""
    import numpy as np
    import pandas as pd

    from mlcycle.monitoring import drift

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(size=2000), "c": rng.choice(list("xyz"), 2000)})
    current = pd.DataFrame(
        {"a": rng.normal(0.5, 1, size=1000), "c": rng.choice(list("xyzw"), 1000)}
    )
    result = drift(reference, current, multivariate=False)
    page = render_drift_report(result)
    assert "Drift detected" in page and page.count("<section class='card' id=") == 2
    assert json.loads(report_json(result))["drifted"] == result.drifted
