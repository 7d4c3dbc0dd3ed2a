"""Evaluation.plots(): standalone SVG drawn from stored data; a cheap package import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from mlcycle.evaluation import Evaluation, evaluate

EXPECTED = {
    "binary": {"roc", "pr", "calibration", "confusion"},
    "multiclass": {"calibration", "confusion"},
    "regression": {"residuals", "predicted_vs_actual"},
}
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def evaluated(request: pytest.FixtureRequest) -> Evaluation:
    case = request.getfixturevalue(request.param)
    return evaluate(case.model, case.X_test, case.y_test, task=request.param)


def test_each_task_gets_its_plots_as_standalone_svg(evaluated: Evaluation) -> None:
    plots = evaluated.plots()
    assert set(plots) == EXPECTED[evaluated.task]
    for name, svg in plots.items():
        assert svg.startswith("<svg"), name
        assert svg.rstrip().endswith("</svg>"), name
        ET.fromstring(svg)  # well-formed XML, inlinable in HTML as it is
        assert set(re.findall(r"https?://[^\s\"'<>)]+", svg)) <= NAMESPACES, name
        assert "<image" not in svg, name  # vector only, nothing embedded or linked
        assert "<text" in svg, name  # svg.fonttype none: text stays text
        assert len(svg) < 100_000, name


def test_plots_are_the_same_after_a_json_round_trip(evaluated: Evaluation) -> None:
    stored = json.loads(json.dumps(evaluated.to_dict(), allow_nan=False))
    assert Evaluation.from_dict(stored).plots() == evaluated.plots()


def test_plots_of_one_evaluation_can_be_inlined_in_one_page(evaluated: Evaluation) -> None:
    ids: list[str] = []
    for svg in evaluated.plots().values():
        own = re.findall(r'\bid="([^"]+)"', svg)
        refs = {a or b for a, b in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)}
        assert refs and refs <= set(own)  # every reference still resolves
        ids.extend(own)
    assert len(ids) == len(set(ids))  # no id twice in the page


def test_confusion_plot_annotates_every_count(multiclass: Any) -> None:
    result = evaluate(multiclass.model, multiclass.X_test, multiclass.y_test, task="multiclass")
    svg = result.plots()["confusion"]
    texts = re.findall(r">([^<>]+)</text>", svg)
    for row in result.confusion or []:
        for count in row:
            assert str(count) in texts
    for label in result.labels or []:
        assert str(label) in texts


def test_roc_plot_shows_the_auc_and_the_threshold(binary: Any) -> None:
    result = evaluate(binary.model, binary.X_test, binary.y_test, task="binary", threshold=0.3)
    svg = result.plots()["roc"]
    assert f"AUC {result.metrics['auc']:.3f}" in svg
    assert "threshold 0.3" in svg


def test_import_is_light_and_plotting_leaves_pyplot_alone() -> None:
    code = (
        "import sys\n"
        "import mlcycle.evaluation as e\n"
        "print(sorted({'sklearn', 'matplotlib', 'rich', 'pandas'} & set(sys.modules)))\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X, y = load_iris(return_X_y=True)\n"
        "m = LogisticRegression(max_iter=1000).fit(X, y)\n"
        "e.evaluate(m, X, y, task='multiclass').plots()\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "False"]
