"""Crafted tree files must be refused with one clear error, never crash the process
(issue 14, finding 2).

LightGBM, XGBoost and scikit-learn walk trees in native code without bounds checks: a split
feature of 2,000,000,000, a child index past the node array, a cycle or sizes that disagree
with the arrays killed the process (SIGSEGV, SIGABRT). Each case edits a real bundle's model
file, re-hashes the manifest (the bundle verifies) and loads it in a child interpreter, so
that on code without the checks the child dies and the test fails instead of the suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.flavours.crafting import rewrite, zip_members, zipped

from mlcycle.bundle import write_bundle
from mlcycle.flavours._base import example_table

_CHILD = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from mlcycle.bundle import read_bundle
    from mlcycle.exceptions import BundleError
    try:
        read_bundle(sys.argv[1]).predict(pd.read_parquet(sys.argv[2]))
    except BundleError as exc:
        print("REFUSED", exc)
    else:
        print("PREDICTED")
    """
)


def _load_in_child(bundle: Path, X: pd.DataFrame) -> str:
    rows = bundle.parent / "rows.parquet"
    X.to_parquet(rows)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(bundle), str(rows)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"the load crashed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout.strip().splitlines()[-1]


def _bundle(model: Any, tmp_path: Path) -> Path:
    path = tmp_path / "bundle"
    write_bundle(model, path)
    return path


# -- LightGBM text ---------------------------------------------------------------------------


def _lightgbm() -> tuple[Any, pd.DataFrame]:
    import lightgbm as lgb

    X, y = example_table("multiclass")
    return lgb.LGBMClassifier(n_estimators=4, num_leaves=6, verbose=-1).fit(X, y), X


def _resized(text: str) -> str:
    """``text`` with its ``tree_sizes`` recomputed, so an edit inside a tree reaches the
    tree reader instead of failing the size check."""
    head, _, rest = text.partition("\nTree=")
    trees, _, tail = ("Tree=" + rest).partition("end of trees")
    blocks = re.split(r"(?=^Tree=)", trees, flags=re.M)[1:]
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    return (
        re.sub(r"tree_sizes=[^\n]*", f"tree_sizes={sizes}", head)
        + "\n"
        + trees
        + "end of trees"
        + tail
    )


def _edit_tree0(key: str, edit: Callable[[list[str]], list[str]]) -> Callable[[str], str]:
    def crafted(text: str) -> str:
        first = text.index("Tree=0")
        line = re.compile(rf"^{key}=(.*)$", re.M).search(text, first)
        assert line is not None
        values = " ".join(edit(line.group(1).split(" ")))
        return _resized(text[: line.start()] + f"{key}={values}" + text[line.end() :])

    return crafted


LIGHTGBM_CASES = {
    "split feature 2e9": (
        _edit_tree0("split_feature", lambda v: ["2000000000", *v[1:]]),
        "split_feature 2000000000 is not one of the model's 5 features",
    ),
    "child out of range": (
        _edit_tree0("left_child", lambda v: ["4000", *v[1:]]),
        "left_child of node 0 is 4000",
    ),
    "leaf out of range": (
        _edit_tree0("right_child", lambda v: ["-90", *v[1:]]),
        "right_child names a leaf past num_leaves",
    ),
    "child loops back": (
        _edit_tree0("left_child", lambda v: [v[0], "0", *v[2:]]),
        "left_child of node 1 is 0",
    ),
    "num_leaves larger than the arrays": (
        _edit_tree0("num_leaves", lambda v: ["300"]),
        "leaf_value has 6 values, not 300",
    ),
    "tree_sizes wrong": (
        lambda text: re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m[1]) + 7}", text),
        "tree_sizes does not match tree 1",
    ),
}


@pytest.mark.parametrize("case", list(LIGHTGBM_CASES))
def test_a_crafted_lightgbm_model_is_refused_without_a_crash(case: str, tmp_path: Path) -> None:
    craft, message = LIGHTGBM_CASES[case]
    model, X = _lightgbm()
    bundle = _bundle(model, tmp_path)
    text = (bundle / "model/model.txt").read_text()
    rewrite(bundle, "model/model.txt", craft(text).encode())
    answer = _load_in_child(bundle, X)
    assert answer.startswith("REFUSED The LightGBM model is malformed"), answer
    assert message in answer


def test_lightgbm_text_with_only_recomputed_sizes_still_loads(tmp_path: Path) -> None:
    model, X = _lightgbm()
    bundle = _bundle(model, tmp_path)
    text = (bundle / "model/model.txt").read_text()
    assert _resized(text) == text  # the crafting helper changes nothing by itself
    assert _load_in_child(bundle, X) == "PREDICTED"


# -- XGBoost JSON ----------------------------------------------------------------------------


def _xgboost() -> tuple[Any, pd.DataFrame]:
    import xgboost as xgb

    X, y = example_table("regression")
    return xgb.XGBRegressor(n_estimators=4, max_depth=3).fit(X, y), X


def _tree0(document: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = document["learner"]["gradient_booster"]["model"]["trees"][0]
    return tree


def _set_split(tree: dict[str, Any]) -> None:
    tree["split_indices"][0] = 2_000_000_000


def _far_child(tree: dict[str, Any]) -> None:
    tree["left_children"][0], tree["right_children"][0] = 500, 501


def _cycle(tree: dict[str, Any]) -> None:
    tree["left_children"][0], tree["right_children"][0] = 0, 1


def _more_nodes(tree: dict[str, Any]) -> None:
    tree["tree_param"]["num_nodes"] = str(int(tree["tree_param"]["num_nodes"]) + 50)


XGBOOST_CASES = {
    "split feature 2e9": (_set_split, "split_indices 2000000000 is not one of the model's 5"),
    "child out of range": (_far_child, "left_children of node 0 is 500"),
    "child loops back": (_cycle, "left_children of node 0 is 0"),
    "num_nodes larger than the arrays": (_more_nodes, "left_children has"),
}


@pytest.mark.parametrize("case", list(XGBOOST_CASES))
def test_a_crafted_xgboost_model_is_refused_without_a_crash(case: str, tmp_path: Path) -> None:
    craft, message = XGBOOST_CASES[case]
    model, X = _xgboost()
    bundle = _bundle(model, tmp_path)
    document = json.loads((bundle / "model/model.json").read_bytes())
    craft(_tree0(document))
    rewrite(bundle, "model/model.json", json.dumps(document).encode())
    answer = _load_in_child(bundle, X)
    assert answer.startswith("REFUSED The XGBoost model is malformed: tree 0"), answer
    assert message in answer


# -- scikit-learn trees and boosters inside skops --------------------------------------------

_HGB = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


_TREES = {"sklearn.tree._tree.Tree", _HGB}


def _tree_nodes(files: dict[str, bytes]) -> list[str]:
    """The .npy file names of every tree's ``nodes`` array in a skops archive."""
    found: list[str] = []
    stack: list[Any] = [json.loads(files["schema.json"])]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if f"{node.get('__module__')}.{node.get('__class__')}" in _TREES:
                found.append(node["content"]["content"]["nodes"]["file"])
            stack.extend(node.values())
    return found


def _edit_nodes(field: str, value: int) -> Callable[[np.ndarray], None]:
    def edit(nodes: np.ndarray) -> None:
        nodes[field][0] = value

    return edit


def _drop_last_node(nodes: np.ndarray) -> np.ndarray:
    return nodes[:-1]


SKLEARN_CASES = {
    "tree child out of range": ("tree", _edit_nodes("left_child", 10**6), "left_child of node 0"),
    "tree feature 2e9": ("tree", _edit_nodes("feature", 2_000_000_000), "feature 2000000000"),
    "tree child loops back": ("tree", _edit_nodes("right_child", 0), "right_child of node 0 is 0"),
    "tree node_count mismatch": ("tree", _drop_last_node, "disagrees with its arrays"),
    "forest child out of range": ("forest", _edit_nodes("right_child", 10**6), "right_child"),
    "forest feature 2e9": ("forest", _edit_nodes("feature", 2_000_000_000), "feature 2000000000"),
    "histogram boosting child out of range": ("hgb", _edit_nodes("left", 10**6), "left of node 0"),
    "histogram boosting feature 2e9": (
        "hgb",
        _edit_nodes("feature_idx", 2_000_000_000),
        "feature_idx 2000000000",
    ),
}


def _sklearn(kind: str) -> tuple[Any, pd.DataFrame]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = example_table("binary")
    if kind == "hgb":
        return HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y), X
    if kind == "tree":
        return DecisionTreeClassifier(random_state=0).fit(X, y), X
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y), X


@pytest.mark.parametrize("case", list(SKLEARN_CASES))
def test_a_crafted_scikit_learn_tree_is_refused_without_a_crash(case: str, tmp_path: Path) -> None:
    import io

    kind, edit, message = SKLEARN_CASES[case]
    model, X = _sklearn(kind)
    bundle = _bundle(model, tmp_path)
    files = zip_members((bundle / "model/model.skops").read_bytes())
    target = _tree_nodes(files)[-1]
    nodes = np.load(io.BytesIO(files[target]))
    nodes = edit(nodes) if edit is _drop_last_node else (edit(nodes), nodes)[1]
    out = io.BytesIO()
    np.save(out, nodes)
    files[target] = out.getvalue()
    rewrite(bundle, "model/model.skops", zipped(files))
    answer = _load_in_child(bundle, X)
    assert answer.startswith("REFUSED The skops model is malformed"), answer
    assert message in answer


def test_a_crafted_lightgbm_step_inside_a_pipeline_is_refused(tmp_path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lgbm, X = _lightgbm()
    _, y = example_table("multiclass")
    model = make_pipeline(StandardScaler(), type(lgbm)(**lgbm.get_params())).fit(X, y)
    bundle = _bundle(model, tmp_path)
    files = zip_members((bundle / "model/model.skops").read_bytes())
    schema = json.loads(files["schema.json"])
    text = json.dumps(schema)
    handle = re.search(r'"_handle": \{[^{}]*"content": ("(?:[^"\\]|\\.)*")', text)
    assert handle is not None
    model_text = json.loads(json.loads(handle.group(1)))
    crafted = _edit_tree0("split_feature", lambda v: ["2000000000", *v[1:]])(model_text)
    text = text[: handle.start(1)] + json.dumps(json.dumps(crafted)) + text[handle.end(1) :]
    files["schema.json"] = text.encode()
    rewrite(bundle, "model/model.skops", zipped(files))
    answer = _load_in_child(bundle, X)
    assert answer.startswith("REFUSED The skops model is malformed"), answer
    assert "split_feature 2000000000" in answer


def test_a_crafted_xgboost_step_inside_a_pipeline_is_refused(tmp_path: Path) -> None:
    import struct

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xgbm, X = _xgboost()
    _, y = example_table("regression")
    model = make_pipeline(StandardScaler(), type(xgbm)(**xgbm.get_params())).fit(X, y)
    bundle = _bundle(model, tmp_path)
    files = zip_members((bundle / "model/model.skops").read_bytes())
    (state,) = [name for name in files if name.endswith(".bin")]
    raw = bytearray(files[state])
    # the first tree's split_indices: a typed int32 array in XGBoost's UBJSON
    at = raw.index(b"split_indices[$l#L") + len(b"split_indices[$l#L") + 8
    raw[at : at + 4] = struct.pack(">i", 2_000_000_000)
    files[state] = bytes(raw)
    rewrite(bundle, "model/model.skops", zipped(files))
    answer = _load_in_child(bundle, X)
    assert answer.startswith("REFUSED The skops model is malformed"), answer
    assert "split_indices 2000000000" in answer
