"""Tree structures checked before a native library reads them (issue 14, finding 2).

LightGBM, XGBoost and scikit-learn walk their trees in C++ or Cython without bounds
checks: a split feature past the input row, a child index past the node array, a cycle,
or array lengths that disagree with the declared node count read or write out of bounds
and kill the process (SIGSEGV, SIGABRT), and with it a server and every model it serves.
Each check here reads the file's own structure first and refuses what the library would
trip on, with a :class:`BundleError` naming the tree and the field. The checks are
vectorised (a large booster is checked in milliseconds) and the same for a model stored
in its native flavour and for one inside a scikit-learn Pipeline's skops file.

Every library here numbers a node's children after the node itself, so "each child's
index is greater than its parent's" is both what healthy files hold and what rules out
cycles; a prediction then ends after at most as many steps as there are nodes.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["check_lightgbm_text", "check_skops_trees", "check_xgboost_model", "xgboost_ubjson"]


def _malformed(what: str, detail: str) -> BundleError:
    return BundleError(
        f"The {what} is malformed: {detail}. Loading it could crash the process, so it is "
        "refused; the file was damaged or crafted. Retrain or re-export the model."
    )


def _check_links(
    children: np.ndarray, parents: np.ndarray, size: int, what: str, where: str, field: str
) -> None:
    """Every child index of an internal node lies after its parent and inside the array."""
    import numpy as np

    bad = np.flatnonzero((children <= parents) | (children >= size))
    if bad.size:
        i = int(bad[0])
        raise _malformed(
            what,
            f"{where}: {field} of node {int(parents[i])} is {int(children[i])}, outside "
            f"{int(parents[i]) + 1}..{size - 1}",
        )


def _check_features(
    features: np.ndarray, n_features: int, what: str, where: str, field: str
) -> None:
    import numpy as np

    bad = np.flatnonzero((features < 0) | (features >= n_features))
    if bad.size:
        raise _malformed(
            what,
            f"{where}: {field} {int(features[bad[0]])} is not one of the model's "
            f"{n_features} features",
        )


# -- LightGBM text -------------------------------------------------------------------------


def _key_values(lines: list[str], what: str, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep:
            raise _malformed(what, f"{where}: the line {line[:40]!r} is not key=value")
        if key in found:
            raise _malformed(what, f"{where}: {key} appears twice")
        found[key] = value
    return found


def _ints(fields: dict[str, str], key: str, n: int, what: str, where: str) -> np.ndarray:
    import numpy as np

    _count(fields, key, n, what, where)
    try:  # what LightGBM's own parser would read, value by value
        values = np.array(fields[key].split(" "), dtype=np.int64)
    except (ValueError, OverflowError):
        raise _malformed(what, f"{where}: {key} holds something other than integers") from None
    return values


def _count(fields: dict[str, str], key: str, n: int, what: str, where: str) -> None:
    """The value of ``key`` is ``n`` values separated by single spaces (as LightGBM
    writes them; counted without splitting, which is most of the time on large models)."""
    if key not in fields:
        raise _malformed(what, f"{where}: {key} is missing")
    value = fields[key]
    got = value.count(" ") + 1 if value else 0
    if got != n:
        raise _malformed(what, f"{where}: {key} has {got} values, not {n}")


def _int(value: Any, what: str, field: str, low: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _malformed(what, f"{field} is {str(value)[:40]!r}, not an integer") from None
    if number < low:
        raise _malformed(what, f"{field} is {number}, less than {low}")
    return number


def check_lightgbm_text(text: str, what: str = "LightGBM model") -> None:
    """Refuse a LightGBM text model whose trees the library could not walk safely."""
    lines = text.split("\n")
    first_tree = next((i for i, ln in enumerate(lines) if ln.startswith("Tree=")), len(lines))
    flags = {"tree", "average_output"}  # the header's lines without a value
    header = _key_values(
        [ln for ln in lines[:first_tree] if ln and ln not in flags], what, "the header"
    )
    n_features = _int(header.get("max_feature_idx"), what, "max_feature_idx") + 1
    num_class = _int(header.get("num_class"), what, "num_class", 1)
    per_iteration = _int(header.get("num_tree_per_iteration"), what, "num_tree_per_iteration", 1)
    names = header.get("feature_names", "").split(" ")
    if len(names) != n_features:
        raise _malformed(what, f"{len(names)} feature names for {n_features} features")
    objective = dict(
        token.split(":", 1) for token in header.get("objective", "").split()[1:] if ":" in token
    )
    if per_iteration != num_class or int(objective.get("num_class", num_class)) != num_class:
        raise _malformed(what, "num_class, num_tree_per_iteration and the objective disagree")
    blocks = _tree_blocks(text, lines, first_tree, header.get("tree_sizes"), what)
    if len(blocks) % per_iteration:
        raise _malformed(what, f"{len(blocks)} trees is not a multiple of {per_iteration}")
    for index, block in enumerate(blocks):
        _check_lightgbm_tree(block, n_features, what, f"tree {index}")


def _tree_blocks(
    text: str, lines: list[str], first_tree: int, sizes: str | None, what: str
) -> list[list[str]]:
    """Each tree's key=value lines, split as LightGBM splits them: by ``tree_sizes`` when
    the header has it (byte offsets, read in parallel: a wrong one aborts the process),
    else at each ``Tree=`` line. A tree's lines end at its first blank line."""
    segments: list[list[str]]
    if sizes is None:
        starts = [i for i, ln in enumerate(lines) if ln.startswith("Tree=")]
        stop = next((i for i, ln in enumerate(lines) if ln == "end of trees"), len(lines))
        segments = [lines[a:b] for a, b in zip(starts, [*starts[1:], stop], strict=True)]
    else:
        raw = text.encode("utf-8")
        offset = len("\n".join(lines[:first_tree]).encode("utf-8")) + 1
        segments = []
        for size in sizes.split():
            length = _int(size, what, "tree_sizes")
            chunk = raw[offset : offset + length]
            if not chunk.startswith(b"Tree="):
                raise _malformed(what, f"tree_sizes does not match tree {len(segments)}")
            segments.append(chunk.decode("utf-8", "replace").split("\n"))
            offset += length
        if not raw[offset:].lstrip(b"\n").startswith(b"end of trees"):
            raise _malformed(what, "tree_sizes does not add up to the trees in the file")
    blocks: list[list[str]] = []
    for segment in segments:
        body = segment[1:]
        end = body.index("") if "" in body else len(body)
        if any(body[end:]):
            raise _malformed(what, f"tree {len(blocks)} has lines after its blank line")
        blocks.append(body[:end])
    return blocks


def _check_lightgbm_tree(lines: list[str], n_features: int, what: str, where: str) -> None:
    import numpy as np

    fields = _key_values(lines, what, where)
    leaves = _int(fields.get("num_leaves"), what, f"{where}: num_leaves", 1)
    num_cat = _int(fields.get("num_cat"), what, f"{where}: num_cat")
    _count(fields, "leaf_value", leaves, what, where)
    if fields.get("is_linear", "0") not in ("0", "1"):
        raise _malformed(what, f"{where}: is_linear is not 0 or 1")
    if fields.get("is_linear") == "1":
        _check_linear_leaves(fields, leaves, n_features, what, where)
    if leaves == 1:
        return
    internal = leaves - 1
    nodes = np.arange(internal)
    features = _ints(fields, "split_feature", internal, what, where)
    _check_features(features, n_features, what, where, "split_feature")
    decision = _ints(fields, "decision_type", internal, what, where)
    if np.any((decision < 0) | (decision > 15) | ((decision >> 2) & 3 == 3)):
        raise _malformed(what, f"{where}: decision_type holds an unknown value")
    _count(fields, "threshold", internal, what, where)
    for side in ("left_child", "right_child"):
        children = _ints(fields, side, internal, what, where)
        inner = children >= 0
        _check_links(children[inner], nodes[inner], internal, what, where, side)
        if np.any(~children[~inner] >= leaves):
            raise _malformed(what, f"{where}: {side} names a leaf past num_leaves={leaves}")
    for key, n in (("split_gain", internal), ("internal_value", internal),
                   ("internal_weight", internal), ("internal_count", internal),
                   ("leaf_weight", leaves), ("leaf_count", leaves)):  # fmt: skip
        if key in fields:
            _count(fields, key, n, what, where)
    categorical = (decision & 1).astype(bool)
    if num_cat or categorical.any():
        _check_categories(fields, categorical, num_cat, internal, what, where)


def _check_categories(
    fields: dict[str, str],
    categorical: np.ndarray,
    num_cat: int,
    internal: int,
    what: str,
    where: str,
) -> None:
    """A categorical split's threshold indexes ``cat_boundaries``, which index
    ``cat_threshold``: both must stay inside their arrays."""
    import numpy as np

    bounds = _ints(fields, "cat_boundaries", num_cat + 1, what, where)
    if bounds[0] != 0 or np.any(np.diff(bounds) < 0):
        raise _malformed(what, f"{where}: cat_boundaries do not rise from 0")
    _count(fields, "cat_threshold", int(bounds[-1]), what, where)
    try:
        thresholds = np.array(fields["threshold"].split(), dtype=np.float64)[categorical]
    except ValueError:
        raise _malformed(what, f"{where}: threshold holds something other than numbers") from None
    if np.any((thresholds < 0) | (thresholds >= num_cat) | (thresholds != np.floor(thresholds))):
        raise _malformed(what, f"{where}: a categorical threshold is not one of {num_cat} sets")


def _check_linear_leaves(
    fields: dict[str, str], leaves: int, n_features: int, what: str, where: str
) -> None:
    import numpy as np

    _count(fields, "leaf_const", leaves, what, where)
    per_leaf = _ints(fields, "num_features", leaves, what, where)
    if np.any(per_leaf < 0):
        raise _malformed(what, f"{where}: num_features is negative")
    total = int(per_leaf.sum())
    features = _ints(fields, "leaf_features", total, what, where)
    _check_features(features, n_features, what, where, "leaf_features")
    _count(fields, "leaf_coeff", total, what, where)


# -- XGBoost JSON --------------------------------------------------------------------------


def check_xgboost_model(model: Any, what: str = "XGBoost model") -> None:
    """Refuse an XGBoost model (its JSON or UBJSON document, parsed) whose trees or linear
    weights the library could not use safely."""
    try:
        learner = model["learner"]
        params = learner["learner_model_param"]
        n_features = _int(params["num_feature"], what, "num_feature", 1)
        groups = max(
            _int(params.get("num_class", 0), what, "num_class"),
            _int(params.get("num_target", 1), what, "num_target", 1),
        )
        booster = learner["gradient_booster"]
        name = booster["name"]
        if name == "gblinear":
            weights = booster["model"]["weights"]
            if len(weights) != (n_features + 1) * groups:
                raise _malformed(
                    what, f"{len(weights)} linear weights, not {n_features}+1 x {groups}"
                )
            return
        if name == "dart":
            drops = booster["weight_drop"]
            booster = booster["gbtree"]
        elif name != "gbtree":
            raise _malformed(what, f"the booster {str(name)[:20]!r} is unknown")
        _check_xgboost_trees(booster["model"], n_features, groups, what)
        if name == "dart" and len(drops) != len(booster["model"]["trees"]):
            raise _malformed(what, "weight_drop does not have one weight per tree")
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise _malformed(what, f"{type(exc).__name__} {exc}") from None


def _check_xgboost_trees(forest: Any, n_features: int, groups: int, what: str) -> None:
    import numpy as np

    trees = forest["trees"]
    n_trees = _int(forest["gbtree_model_param"]["num_trees"], what, "num_trees")
    info = np.asarray(forest["tree_info"], dtype=np.int64)
    if len(trees) != n_trees or info.shape != (n_trees,):
        raise _malformed(what, f"num_trees={n_trees} but {len(trees)} trees, {info.size} tree_info")
    if np.any((info < 0) | (info >= groups)):
        raise _malformed(what, f"tree_info names an output group outside 0..{groups - 1}")
    indptr = np.asarray(forest.get("iteration_indptr", [0, n_trees]), dtype=np.int64)
    if indptr.size < 1 or indptr[0] != 0 or indptr[-1] != n_trees or np.any(np.diff(indptr) < 0):
        raise _malformed(what, "iteration_indptr does not partition the trees")
    for index, tree in enumerate(trees):
        _check_xgboost_tree(tree, n_features, what, f"tree {index}")


def _check_xgboost_tree(tree: Any, n_features: int, what: str, where: str) -> None:
    import numpy as np

    param = tree["tree_param"]
    n = _int(param["num_nodes"], what, f"{where}: num_nodes", 1)
    if _int(param.get("size_leaf_vector", 1), what, f"{where}: size_leaf_vector") > 1:
        raise _malformed(what, f"{where}: vector-leaf (multi-output) trees are not supported")
    arrays = {}
    for key in ("left_children", "right_children", "parents", "split_indices",
                "split_conditions", "default_left", "base_weights"):  # fmt: skip
        arrays[key] = np.asarray(tree[key])
        if arrays[key].shape != (n,):
            raise _malformed(what, f"{where}: {key} has {arrays[key].size} values, not {n}")
    for key in ("split_type", "loss_changes", "sum_hessian"):
        if key in tree and np.asarray(tree[key]).shape != (n,):
            raise _malformed(what, f"{where}: {key} does not have {n} values")
    left = arrays["left_children"].astype(np.int64)
    right = arrays["right_children"].astype(np.int64)
    internal = left != -1
    nodes = np.arange(n)
    if np.any(right[~internal] != -1):
        raise _malformed(what, f"{where}: a leaf has a right child")
    _check_links(left[internal], nodes[internal], n, what, where, "left_children")
    # XGBoost steps to a node's right child as left + 1: the two must be adjacent
    if np.any(right[internal] != left[internal] + 1):
        raise _malformed(what, f"{where}: a right child is not next to its left child")
    parents = arrays["parents"].astype(np.int64)
    if np.any(parents[left[internal]] != nodes[internal]) or np.any(
        parents[right[internal]] != nodes[internal]
    ):
        raise _malformed(what, f"{where}: parents disagree with the children")
    features = arrays["split_indices"].astype(np.int64)[internal]
    _check_features(features, n_features, what, where, "split_indices")
    _check_xgboost_categories(tree, n, what, where)


def _check_xgboost_categories(tree: Any, n: int, what: str, where: str) -> None:
    import numpy as np

    split_type = np.asarray(tree.get("split_type", []), dtype=np.int64)
    nodes = np.asarray(tree.get("categories_nodes", []), dtype=np.int64)
    segments = np.asarray(tree.get("categories_segments", []), dtype=np.int64)
    sizes = np.asarray(tree.get("categories_sizes", []), dtype=np.int64)
    total = len(tree.get("categories", []))
    if np.any((split_type != 0) & (split_type != 1)):
        raise _malformed(what, f"{where}: split_type holds an unknown value")
    if not (nodes.shape == segments.shape == sizes.shape):
        raise _malformed(what, f"{where}: the categories arrays have different lengths")
    if np.any((nodes < 0) | (nodes >= n)) or (
        split_type.size and not np.all(split_type[nodes] == 1)
    ):
        raise _malformed(what, f"{where}: categories_nodes names a node without a category split")
    if np.any(split_type == 1) and set(np.flatnonzero(split_type == 1).tolist()) - set(
        nodes.tolist()
    ):
        raise _malformed(what, f"{where}: a category split has no categories")
    if np.any((segments < 0) | (sizes < 0) | (segments + sizes > total)):
        raise _malformed(what, f"{where}: categories_segments point past the categories")


_UBJ_SCALARS = {
    ord("i"): ">i1", ord("U"): ">u1", ord("I"): ">i2", ord("l"): ">i4", ord("L"): ">i8",
    ord("d"): ">f4", ord("D"): ">f8",
}  # fmt: skip


def xgboost_ubjson(data: bytes, what: str = "XGBoost model") -> Any:
    """Parse the UBJSON that XGBoost writes (its pickled state inside a skops file), so the
    same checks run on it as on the JSON format; typed arrays come back as NumPy arrays."""
    try:
        value, end = _ubj_value(memoryview(data), 0)
    except (IndexError, ValueError, KeyError, struct.error, RecursionError) as exc:
        raise _malformed(what, f"the UBJSON cannot be read ({exc})") from None
    if end != len(data):
        raise _malformed(what, "the UBJSON has bytes after its end")
    return value


def _ubj_number(buf: memoryview, pos: int, marker: int) -> tuple[Any, int]:
    import numpy as np

    dtype = np.dtype(_UBJ_SCALARS[marker])
    return np.frombuffer(buf, dtype, 1, pos)[0].item(), pos + dtype.itemsize


def _ubj_length(buf: memoryview, pos: int) -> tuple[int, int]:
    length, pos = _ubj_number(buf, pos + 1, buf[pos])
    if not isinstance(length, int) or length < 0 or length > len(buf):
        raise ValueError(f"a length of {length}")
    return length, pos


def _ubj_value(buf: memoryview, pos: int, marker: int | None = None) -> tuple[Any, int]:
    if marker is None:
        marker, pos = buf[pos], pos + 1
    if marker in _UBJ_SCALARS:
        return _ubj_number(buf, pos, marker)
    if marker == ord("S"):
        length, pos = _ubj_length(buf, pos)
        return bytes(buf[pos : pos + length]).decode("utf-8"), pos + length
    if marker in (ord("T"), ord("F"), ord("Z")):
        return {ord("T"): True, ord("F"): False, ord("Z"): None}[marker], pos
    if marker == ord("["):
        return _ubj_array(buf, pos)
    if marker == ord("{"):
        out: dict[str, Any] = {}
        while buf[pos] != ord("}"):
            length, pos = _ubj_length(buf, pos)
            key = bytes(buf[pos : pos + length]).decode("utf-8")
            out[key], pos = _ubj_value(buf, pos + length)
        return out, pos + 1
    raise ValueError(f"unknown marker {chr(marker)!r}")


def _ubj_array(buf: memoryview, pos: int) -> tuple[Any, int]:
    import numpy as np

    kind = None
    if buf[pos] == ord("$"):
        kind, pos = buf[pos + 1], pos + 2
    if buf[pos] == ord("#"):
        count, pos = _ubj_length(buf, pos + 1)
        if kind in _UBJ_SCALARS:
            dtype = np.dtype(_UBJ_SCALARS[kind])
            return np.frombuffer(buf, dtype, count, pos), pos + count * dtype.itemsize
        items = []
        for _ in range(count):
            item, pos = _ubj_value(buf, pos, kind)
            items.append(item)
        return items, pos
    items = []
    while buf[pos] != ord("]"):
        item, pos = _ubj_value(buf, pos)
        items.append(item)
    return items, pos + 1


# -- scikit-learn trees inside a skops file ------------------------------------------------

_SKLEARN_TREE = "sklearn.tree._tree.Tree"
_HGB_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_LGBM_BOOSTER = "lightgbm.basic.Booster"
_XGB_BOOSTER = "xgboost.core.Booster"

ArrayReader = Callable[[Any], Any]
"""Returns the array (or bytes) an ``NdArrayNode``/``BytearrayNode`` stores in the archive."""


def check_skops_trees(schema: Any, read: ArrayReader, what: str) -> None:
    """Check every tree in a skops ``schema.json`` before skops builds it: scikit-learn's
    ``Tree`` and histogram-boosting ``TreePredictor`` node arrays, and the LightGBM and
    XGBoost boosters a Pipeline holds. A tree's features are checked against the
    ``n_features_in_`` of the estimator that holds it, and a bagged estimator's
    ``n_features_in_`` against its ensemble's (a forest hands its rows to its trees
    unchecked)."""
    stack: list[tuple[Any, int | None, int | None]] = [(schema, None, None)]
    while stack:
        node, n_in, limit = stack.pop()
        if isinstance(node, list):
            stack.extend((item, n_in, limit) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        attrs = _attributes(node)
        if name in _BUILDERS:
            _BUILDERS[name](node, attrs, read, n_in, what)
        own = _json_value(attrs.get("n_features_in_"), what) if attrs else None
        if own is not None:
            own = _int(own, what, f"n_features_in_ of {name}")
            if limit is not None and own > limit:
                raise _malformed(
                    what, f"a {name} reads {own} features inside an ensemble of {limit}"
                )
        for key, child in (attrs or {}).items():
            stack.append(
                (child, own if own is not None else n_in, own if key == "estimators_" else None)
            )
        rest = {k: v for k, v in node.items() if k != "content"} if attrs is not None else node
        stack.extend((child, n_in, limit) for child in rest.values())


def _attributes(node: dict[str, Any]) -> dict[str, Any] | None:
    """The attribute nodes of an object node (its state dict), else None."""
    content = node.get("content")
    if node.get("__loader__") in ("ObjectNode", "TreeNode") and isinstance(content, dict):
        attrs = content.get("content")
        if content.get("__loader__") == "DictNode" and isinstance(attrs, dict):
            return attrs
    return None


def _json_value(node: Any, what: str) -> Any:
    if not isinstance(node, dict) or node.get("__loader__") != "JsonNode":
        return None
    try:
        return json.loads(node["content"])
    except (KeyError, TypeError, ValueError):
        raise _malformed(what, "a value in its schema.json is not JSON") from None


def _array(node: Any, read: ArrayReader, what: str, field: str) -> np.ndarray:
    import numpy as np

    if not isinstance(node, dict) or node.get("__loader__") != "NdArrayNode":
        raise _malformed(what, f"the tree's {field} is not an array")
    found = read(node)
    if not isinstance(found, np.ndarray):
        raise _malformed(what, f"the tree's {field} is not an array")
    return found


def _fields(nodes: np.ndarray, names: tuple[str, ...], what: str, kind: str) -> None:
    if nodes.ndim != 1 or nodes.dtype.names is None or not set(names) <= set(nodes.dtype.names):
        raise _malformed(what, f"a {kind}'s nodes array lacks {', '.join(names)}")


def _check_sklearn_tree(
    node: dict[str, Any], attrs: Any, read: ArrayReader, n_in: int | None, what: str
) -> None:
    import numpy as np

    try:
        args = node["__reduce__"]["args"]["content"]
        n_features = _int(_json_value(args[0], what), what, "a tree's n_features", 1)
        n_classes = _array(args[1], read, what, "n_classes").astype(np.int64, casting="safe")
        n_outputs = _int(_json_value(args[2], what), what, "a tree's n_outputs", 1)
        count = _int(_json_value(attrs["node_count"], what), what, "a tree's node_count", 1)
        max_depth = _int(_json_value(attrs["max_depth"], what), what, "a tree's max_depth")
        nodes = _array(attrs["nodes"], read, what, "nodes")
        values = _array(attrs["values"], read, what, "values")
    except (KeyError, TypeError, IndexError):
        raise _malformed(what, "a scikit-learn tree lacks its sizes or arrays") from None
    if n_in is not None and n_features != n_in:
        raise _malformed(what, f"a tree of {n_features} features is held by a model of {n_in}")
    if n_classes.shape != (n_outputs,) or np.any(n_classes < 1):
        raise _malformed(what, "a tree's n_classes does not have one count per output")
    _fields(nodes, ("left_child", "right_child", "feature"), what, "tree")
    if nodes.shape != (count,) or values.shape != (count, n_outputs, int(n_classes.max())):
        raise _malformed(what, f"a tree's node_count={count} disagrees with its arrays")
    left, right = nodes["left_child"], nodes["right_child"]
    internal = left != -1  # scikit-learn's TREE_LEAF
    if np.any(right[~internal] != -1):
        raise _malformed(what, "a tree's leaf has a right child")
    ids = np.arange(count)
    where = "a scikit-learn tree"
    _check_links(left[internal], ids[internal], count, what, where, "left_child")
    _check_links(right[internal], ids[internal], count, what, where, "right_child")
    _check_features(nodes["feature"][internal], n_features, what, where, "feature")
    if _depth(left, right, internal) > max_depth:  # decision_path allocates max_depth + 1
        raise _malformed(what, f"a tree is deeper than its max_depth={max_depth}")


def _depth(left: np.ndarray, right: np.ndarray, internal: np.ndarray) -> int:
    """The deepest node's depth, by pointer jumping on the parent array (log steps)."""
    import numpy as np

    parent = np.zeros(left.size, dtype=np.int64)
    ids = np.flatnonzero(internal)
    parent[left[internal]] = ids
    parent[right[internal]] = ids
    dist = (np.arange(left.size) != 0).astype(np.int64)
    while np.any(parent != 0):
        dist = dist + dist[parent] * (parent != 0)
        parent = parent[parent]
    return int(dist.max())


def _check_hgb_predictor(
    node: dict[str, Any], attrs: Any, read: ArrayReader, n_in: int | None, what: str
) -> None:
    import numpy as np

    try:
        nodes = _array(attrs["nodes"], read, what, "nodes")
        kinds = ("raw_left_cat_bitsets", "binned_left_cat_bitsets")
        bitsets = [_array(attrs[kind], read, what, kind) for kind in kinds]
    except (KeyError, TypeError):
        raise _malformed(what, "a histogram-boosting tree lacks its arrays") from None
    if n_in is None:
        raise _malformed(what, "a histogram-boosting tree is not held by a fitted model")
    _fields(nodes, ("left", "right", "feature_idx", "is_leaf", "is_categorical", "bitset_idx"),
            what, "histogram-boosting tree")  # fmt: skip
    where, count = "a histogram-boosting tree", nodes.size
    if count < 1:
        raise _malformed(what, f"{where} has no nodes")
    internal = nodes["is_leaf"] == 0
    ids = np.arange(count)
    for side in ("left", "right"):
        _check_links(
            nodes[side][internal].astype(np.int64), ids[internal], count, what, where, side
        )
    _check_features(nodes["feature_idx"][internal], n_in, what, where, "feature_idx")
    categorical = internal & (nodes["is_categorical"] != 0)
    if np.any(nodes["bitset_idx"][categorical] >= min(len(b) for b in bitsets)):
        raise _malformed(what, f"{where}: bitset_idx points past its category bitsets")


def _check_lightgbm_booster(
    node: dict[str, Any], attrs: Any, read: ArrayReader, n_in: int | None, what: str
) -> None:
    if attrs is None:
        raise _malformed(what, "a LightGBM booster has no state")
    for key in ("handle", "_handle"):
        if key not in attrs:
            continue
        text = _json_value(attrs[key], what)
        if not isinstance(text, str):
            raise _malformed(what, f"a LightGBM booster's {key} is not model text")
        check_lightgbm_text(text, what)


def _check_xgboost_booster(
    node: dict[str, Any], attrs: Any, read: ArrayReader, n_in: int | None, what: str
) -> None:
    handle = (attrs or {}).get("handle")
    if not isinstance(handle, dict) or handle.get("__loader__") != "BytearrayNode":
        raise _malformed(what, "an XGBoost booster's state is not its saved bytes")
    state = xgboost_ubjson(bytes(read(handle)), what)
    model = state.get("Model") if isinstance(state, dict) else None
    check_xgboost_model(model, what)


_BUILDERS: dict[str, Callable[[dict[str, Any], Any, ArrayReader, int | None, str], None]] = {
    _SKLEARN_TREE: _check_sklearn_tree,
    _HGB_PREDICTOR: _check_hgb_predictor,
    _LGBM_BOOSTER: _check_lightgbm_booster,
    _XGB_BOOSTER: _check_xgboost_booster,
}
"""Type name -> the check of its state, for every type that hands trees to native code."""


def read_skops_array(archive: Any) -> ArrayReader:
    """An :data:`ArrayReader` over an open skops zip archive (``.npy`` without pickle)."""
    import numpy as np

    def read(node: Any) -> Any:
        try:
            body = archive.read(node["file"])
            if node.get("__loader__") == "BytearrayNode":
                return body
            return np.load(io.BytesIO(body), allow_pickle=False)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise _malformed("skops file", f"an array cannot be read ({exc})") from None

    return read
