"""Fuzzing bundle manifests: a mutated ``MANIFEST.json`` of a real bundle either loads and
predicts, or is refused with the project's BundleError or IntegrityError; nothing else.

The model files stay as written (their hashes are what the manifest is checked against);
only the manifest changes: its format numbers, flavour name and format, file table (paths,
hashes, sizes), the model's loader entry and the decision rule.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from tests.fuzz.strategies import NodePath, examples, mutated

from mlcycle.bundle import MANIFEST_NAME, read_bundle, write_bundle
from mlcycle.exceptions import BundleError, IntegrityError
from mlcycle.flavours import FLAVOURS
from mlcycle.flavours._base import example_table
from mlcycle.schema import Schema


def _model(kind: str) -> tuple[Any, Any]:
    import lightgbm as lgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "sklearn":
        X, y = example_table("binary")
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y), X
    X, y = example_table("multiclass")
    return lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y), X


@functools.cache
def real_bundle(kind: str) -> tuple[Path, dict[str, Any], Any]:
    """A real bundle of ``kind`` written once per process (its folder, its manifest and
    rows it predicts); each example overwrites the folder's manifest."""
    root = Path(tempfile.mkdtemp(prefix=f"mlcycle-fuzz-{kind}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    model, X = _model(kind)
    write_bundle(model, root / "bundle", schema=Schema.from_dataframe(X))
    return root / "bundle", json.loads((root / "bundle" / MANIFEST_NAME).read_bytes()), X.head(5)


def _aimed(manifest: dict[str, Any]) -> Any:
    files = sorted(manifest["files"])
    hashes = [entry["sha256"] for entry in manifest["files"].values()]
    values = {
        "format": [0, 1, 2, 3, 99, -1, True, 1.0, "2", None, [2]],
        "flavour": [*FLAVOURS, "pickle", "", None, ["sklearn"], {"sklearn": 1}, "SKLEARN"],
        "flavour_format": [0, 1, 2, 999, -1, True, "1", None, 1.5],
        "sha256": [*hashes, "0" * 64, "", None, 1, hashes[0].upper()],
        "size": [0, -1, 1, 2**63, "1", 1.5, True, None],
        "path": [*files, "../x", "/etc/passwd", "model", "", None, [files[0]], {"a": 1}],
        "loader": ["skops", "pickle", "joblib", None],
        "task": ["binary", "multiclass", "regression", "", None, 1],
        "classes": [[], ["no"], ["no", "yes"], ["a", "b", "c"], "ab", 5, [[1], [2]], [{}, {}],
                    [1, 2], [True, False], [None, None], [math.nan, 1.0]],
        "classes_dtype": ["<i8", "|b1", "O", "<U3", "garbage", "V0", "<M8[ns]", "f8", 5, None],
        "threshold": [0, 1, 0.5, -1, 2, math.nan, math.inf, "0.5", True, None, 1e-300],
    }  # fmt: skip
    values["flavor"], values["meta"] = values["flavour"], values["path"]

    def aimed(path: NodePath) -> list[Any]:
        return values.get(path[-1], []) if isinstance(path[-1], str) else []

    return aimed


def _check(bundle_dir: Path, manifest: Any, rows: Any) -> None:
    (bundle_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    try:
        bundle = read_bundle(bundle_dir)
        outputs = bundle.predict_outputs(rows)
    except (BundleError, IntegrityError) as error:
        event(f"refused: {type(error).__name__}")
        return
    event("loaded and predicted")
    assert len(outputs.labels) == len(rows)
    if outputs.probabilities is not None:
        assert outputs.probabilities.shape == (len(rows), len(bundle.decision.classes or ()))


def manifests(kind: str) -> st.SearchStrategy[tuple[str, Any]]:
    manifest = real_bundle(kind)[1]
    return st.tuples(st.just(kind), mutated(manifest, _aimed(manifest)))


Edit = Callable[[dict[str, Any]], dict[str, Any]]


def _set(path: tuple[str, ...], value: Any) -> Edit:
    """A manifest edit the fuzzer found once, kept as a regression example."""

    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(manifest)
        node = changed
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value if not callable(value) else value(changed)
        return changed

    edit.__name__ = f"set {'.'.join(path)} = {value!r}"
    return edit


@settings(max_examples=examples(300))
@given(st.sampled_from(["sklearn", "lightgbm"]).flatmap(manifests))
# each found once by this harness: a TypeError or ValueError, or the booster's own error
@example(("sklearn", _set(("model", "path"), {"a": 1})))
@example(("sklearn", _set(("decision", "classes_dtype"), "garbage")))
@example(("sklearn", _set(("decision", "classes_dtype"), "<i8")))
@example(("sklearn", _set(("decision", "classes_dtype"), [["a"]])))
@example(("sklearn", _set(("decision", "classes"), 5)))
@example(("lightgbm", _set(("model", "path"), "model/meta.json")))
def test_a_mutated_manifest_loads_or_is_refused_with_a_bundle_error(
    case: tuple[str, dict[str, Any] | Edit],
) -> None:
    kind, manifest = case
    bundle_dir, source, rows = real_bundle(kind)
    if callable(manifest):
        manifest = manifest(source)
    _check(bundle_dir, manifest, rows)
