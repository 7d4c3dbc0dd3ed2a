"""A crafted skops file must not run code when a bundle loads (issue 14, finding 1).

The gadget hides as one extra attribute of a real fitted LogisticRegression; every name in
it starts with ``numpy.``, which a prefix allowlist trusted: ``FunctionNode`` yields the
``builtins`` module, ``MethodNode`` its ``eval``, a ``PartialNode`` claiming to be
``numpy.vectorize`` binds the source, and ``ConstructorFromReduceNode(numpy.fromfunction)``
with shape ``()`` calls it while loading. The manifest and hashes are valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from tests.flavours.crafting import rewrite, zip_members, zipped

import mlcycle
from mlcycle.bundle import read_bundle, write_bundle
from mlcycle.exceptions import BundleError
from mlcycle.flavours import load_skops


def _json(value: Any) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


def _node(loader: str, module: str, cls: str, **rest: Any) -> dict[str, Any]:
    return {"__class__": cls, "__module__": module, "__loader__": loader, **rest}


def gadget(source: str) -> dict[str, Any]:
    """``numpy.fromfunction(partial(eval, source), ())``, in skops nodes."""
    builtins_module = _node("FunctionNode", "numpy._core.numeric", "builtins")
    evaluate = _node(
        "MethodNode", "numpy._core.numeric", "builtins",
        content={"func": "eval", "obj": builtins_module},
    )  # fmt: skip
    no_keys = _node("ListNode", "builtins", "list", content=[])
    bound = _node(
        "PartialNode", "numpy", "vectorize",
        content={
            "func": evaluate,
            "args": _node("TupleNode", "builtins", "tuple", content=[_json(source)]),
            "kwds": _node("DictNode", "builtins", "dict", content={}, key_types=no_keys),
            "namespace": _json(None),
        },
    )  # fmt: skip
    shape = _node("TupleNode", "builtins", "tuple", content=[])
    args = _node("TupleNode", "builtins", "tuple", content=[bound, shape])
    return _node("ConstructorFromReduceNode", "numpy", "fromfunction", content=args)


def planted(data: bytes, node: dict[str, Any]) -> bytes:
    """The skops file ``data`` with ``node`` added as the attribute ``gadget_``."""
    files = zip_members(data)
    schema = json.loads(files["schema.json"])
    attrs = schema["content"]
    attrs["content"]["gadget_"] = node
    attrs["key_types"]["content"].append(_node("TypeNode", "builtins", "str"))
    files["schema.json"] = json.dumps(schema).encode()
    return zipped(files)


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[Path, Path, Any]:
    """A bundle whose model file carries the gadget (valid hashes), and the marker path
    the gadget would write."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    bundle = tmp_path / "bundle"
    write_bundle(model, bundle, extra_files={"anomaly.skops": b""})
    marker = tmp_path / "code-ran"
    source = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    for rel in ("model/model.skops", "extra/anomaly.skops"):
        model_bytes = (bundle / "model/model.skops").read_bytes()
        rewrite(bundle, rel, planted(model_bytes, gadget(source)))
    return bundle, marker, X


def test_the_gadget_is_refused_on_load_and_runs_nothing(crafted: tuple[Path, Path, Any]) -> None:
    bundle, marker, X = crafted
    opened = read_bundle(bundle)  # the hashes are valid: the file itself is what is refused
    with pytest.raises(BundleError, match=r"FunctionNode.*MethodNode|MethodNode") as info:
        opened.predict(X.head(3))
    assert "PartialNode" in str(info.value) and "ConstructorFromReduceNode" in str(info.value)
    with pytest.raises(BundleError, match="PartialNode"):
        opened.load_extra_model("anomaly.skops")
    assert not marker.exists()


def test_registering_the_crafted_bundle_is_refused_and_stores_nothing(
    crafted: tuple[Path, Path, Any], clean_env: Path
) -> None:
    bundle, marker, _ = crafted
    with pytest.raises(BundleError, match="does not trust"):
        mlcycle.register_model("crafted", bundle=bundle)
    assert mlcycle.registry.get_workspace().store.list_models() == []
    assert not marker.exists()


@pytest.mark.parametrize(
    ("loader", "module", "cls"),
    [
        ("ObjectNode", "numpy.lib.npyio", "NpzFile"),  # a trusted prefix, not a trusted type
        ("ObjectNode", "sklearn.utils._testing", "TempMemmap"),
        ("TypeNode", "builtins", "eval"),
        ("OperatorFuncNode", "operator", "attrgetter"),
        ("ReduceNode", "sklearn.linear_model._logistic", "LogisticRegression"),
    ],
)
def test_anything_outside_the_exact_lists_is_refused(loader: str, module: str, cls: str) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    import skops.io as sio

    data = planted(
        sio.dumps(LogisticRegression(max_iter=500).fit(X, y)), _node(loader, module, cls)
    )
    with pytest.raises(BundleError, match=f"{module}.{cls}"):
        load_skops(data, "model")


@pytest.mark.parametrize(
    "make",
    [
        "make_pipeline(SelectKBest(f_classif, k=2), LogisticRegression(max_iter=500))",
        "MLPClassifier(max_iter=50, random_state=0)",
        "GaussianProcessClassifier(random_state=0)",
        "make_pipeline(SplineTransformer(), LogisticRegression(max_iter=500))",
        "SGDClassifier(random_state=0)",
        "CalibratedClassifierCV(LogisticRegression(max_iter=500), cv=2)",
    ],
)
def test_common_scikit_learn_models_still_load(make: str) -> None:
    import warnings

    import numpy as np
    import skops.io as sio
    from sklearn.calibration import CalibratedClassifierCV  # noqa: F401
    from sklearn.feature_selection import SelectKBest, f_classif  # noqa: F401
    from sklearn.gaussian_process import GaussianProcessClassifier  # noqa: F401
    from sklearn.linear_model import SGDClassifier  # noqa: F401
    from sklearn.neural_network import MLPClassifier  # noqa: F401
    from sklearn.pipeline import make_pipeline  # noqa: F401
    from sklearn.preprocessing import SplineTransformer  # noqa: F401

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = eval(make).fit(X, y)  # the expressions above, not input
    loaded: Any = load_skops(sio.dumps(model), "model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
