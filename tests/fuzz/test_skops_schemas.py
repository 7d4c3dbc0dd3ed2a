"""Fuzzing skops schemas: a real skops file whose ``schema.json`` tree is mutated, or grown
with generated nodes, is loaded or refused with BundleError; never another exception, and
never code run. The generated nodes name builtins.eval, os.system and the gadget of issue
14's finding 1, each told to create a canary file; the canary must never appear.
"""

from __future__ import annotations

import atexit
import copy
import functools
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from tests.flavours.test_skops_trust import gadget
from tests.fuzz.strategies import NodePath, examples, json_values, mutated

from mlcycle.exceptions import BundleError
from mlcycle.flavours import load_skops
from mlcycle.flavours._base import example_table

CANARY_DIR = Path(tempfile.mkdtemp(prefix="mlcycle-fuzz-canary-"))
atexit.register(shutil.rmtree, CANARY_DIR, ignore_errors=True)
CANARY = CANARY_DIR / "code-ran"
"""The file every generated gadget would create."""
PYTHON = f"__import__('pathlib').Path({str(CANARY)!r}).write_text('x')"
SHELL = f"touch {CANARY}"

LOADERS = [
    "CachedNode",
    "DictNode",
    "DefaultDictNode",
    "ListNode",
    "SetNode",
    "TupleNode",
    "FunctionNode",
    "PartialNode",
    "TypeNode",
    "SliceNode",
    "ConstructorFromReduceNode",
    "ObjectNode",
    "MethodNode",
    "JsonNode",
    "BytesNode",
    "BytearrayNode",
    "OperatorFuncNode",
    "NdArrayNode",
    "MaskedArrayNode",
    "RandomStateNode",
    "RandomGeneratorNode",
    "DTypeNode",
    "SparseMatrixNode",
    "ReduceNode",
    "TreeNode",
    "LossNode",
]
NAMES = [
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "__import__"),
    ("builtins", "getattr"), ("builtins", "open"), ("os", "system"), ("posix", "system"),
    ("subprocess", "Popen"), ("subprocess", "check_call"), ("functools", "partial"),
    ("operator", "attrgetter"), ("operator", "methodcaller"), ("pathlib", "Path"),
    ("numpy", "fromfunction"), ("numpy", "vectorize"), ("numpy", "load"),
    ("numpy._core.numeric", "builtins"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "str"), ("builtins", "int"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.preprocessing._data", "StandardScaler"),
]  # fmt: skip
PAYLOADS = [PYTHON, SHELL, "eval", "system", "__reduce__", "__setstate__"]


def _json_node(value: Any) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


skops_nodes = st.recursive(
    st.sampled_from(PAYLOADS).map(_json_node) | st.just(gadget(PYTHON)),
    lambda inner: st.builds(
        lambda loader, name, content, extra: {
            "__loader__": loader, "__module__": name[0], "__class__": name[1],
            "content": content, **extra,
        },
        st.sampled_from(LOADERS),
        st.sampled_from(NAMES),
        st.one_of(
            inner,
            st.lists(inner, max_size=3),
            st.fixed_dictionaries({}, optional={
                "func": st.sampled_from(PAYLOADS) | inner, "obj": inner, "args": inner,
                "kwds": inner, "attrs": inner, "shape": st.just([]) | inner,
            }),
            json_values,
        ),
        st.fixed_dictionaries({}, optional={
            "is_json": st.booleans(), "key_types": inner, "__id__": st.integers(0, 50),
            "type": st.sampled_from(["json", "numpy", "scipy"]), "file": st.text(max_size=8),
        }),
    ),
    max_leaves=6,
)  # fmt: skip


def _aimed(path: NodePath) -> list[Any]:
    key = path[-1]
    if key == "__loader__":
        return [*LOADERS, "", None, 0]
    if key == "__module__":
        return [module for module, _ in NAMES]
    if key == "__class__":
        return [cls for _, cls in NAMES]
    return [gadget(PYTHON), _json_node(PYTHON)]


@functools.cache
def real_skops() -> tuple[bytes, dict[str, Any]]:
    """A fitted pipeline (scaling, logistic regression) as skops bytes, and its parsed
    ``schema.json``."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = example_table("multiclass", n=60)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)
    data = sio.dumps(model)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return data, json.loads(archive.read("schema.json"))


def _with_schema(data: bytes, schema: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            body = source.read(name)
            target.writestr(name, json.dumps(schema) if name == "schema.json" else body)
    return out.getvalue()


def _grown(tree: Any) -> st.SearchStrategy[Any]:
    """``tree`` mutated, with generated nodes among the values the mutations put in."""
    return mutated(tree, _aimed) | st.tuples(mutated(tree, _aimed), skops_nodes).map(_plant)


def _plant(pair: tuple[Any, dict[str, Any]]) -> Any:
    tree, node = pair
    if isinstance(tree, dict) and isinstance(tree.get("content"), dict):
        inner = tree["content"]
        if isinstance(inner.get("content"), dict):
            inner["content"]["fuzzed_"] = node  # an extra attribute of the estimator
            return tree
    return node


@settings(max_examples=examples(300))
@given(st.builds(lambda: real_skops()[1]).flatmap(_grown))
@example(lambda tree: _plant((copy.deepcopy(tree), gadget(PYTHON))))  # finding 1's gadget
@example(lambda tree: {**tree, "__loader__": {}})  # found here once: a TypeError, not refused
def test_a_mutated_skops_schema_is_loaded_or_refused_and_runs_nothing(schema: Any) -> None:
    data, source = real_skops()
    data = _with_schema(data, schema(source) if callable(schema) else schema)
    try:
        load_skops(data, "model")
    except BundleError as error:
        event(f"refused: {str(error)[:40]}")
    else:
        event("loaded")
    assert not CANARY.exists(), "a node of the schema ran code"
