"""The graph builder and converters of the ONNX fast path (see :mod:`._onnx`).

Each converter lowers one fitted step (preparer part, estimator, booster, ensemble) onto a
:class:`_Graph` in float64, with each library's own comparison precision, or raises
:class:`_Unsupported` with a one-line reason.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from mlcycle.schema import Schema


OPSET = 18
ML_OPSET = 3  # TreeEnsembleRegressor with float64 thresholds; valid for onnxmltools' ops too
_FLOAT, _DOUBLE = 1, 11  # onnx.TensorProto element types
_NUMERIC = ("number", "integer", "boolean")
_UNSEEN = "\x00unseen\x00"  # a category no encoder has seen: what do unknown values become?
_NO_CONVERTER = ("TfidfVectorizer", "CountVectorizer", "HashingVectorizer", "DatetimeFeatures")
_SPLICE_OPS = frozenset({"Identity", "Cast", "Mul", "Add", "Sub", "Div", "Sigmoid", "Exp"})
_LINEAR = frozenset(  # estimators whose prediction is X @ coef_.T + intercept_ (and a link)
    "LinearRegression Ridge RidgeCV Lasso LassoCV ElasticNet ElasticNetCV SGDRegressor "  # noqa: SIM905
    "HuberRegressor BayesianRidge ARDRegression LogisticRegression LogisticRegressionCV".split()
)
_LGBM_LINKS = {
    **dict.fromkeys(("binary", "cross_entropy", "xentropy"), "sigmoid"),
    **dict.fromkeys(("multiclass", "softmax"), "softmax"),
    **dict.fromkeys(("poisson", "gamma", "tweedie"), "exp"),
    **dict.fromkeys(("regression", "regression_l1", "huber", "fair", "quantile", "mape"), ""),
}


class _Unsupported(Exception):
    """A step without an ONNX conversion; the message is the reason shown to the user."""


def _name(obj: object) -> str:
    return type(obj).__name__


def _path(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


# -- the graph builder ---------------------------------------------------------------------


class _Graph:
    """Nodes and constants of one graph whose inputs are ``num`` (float64 matrix of the
    numeric columns used) and ``cat`` (string matrix of the category columns used)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.num: list[str] = []
        self.cat: list[tuple[str, str, bool]] = []  # (column, token for missing, lowercased)
        self._gathers: list[tuple[Any, list[int]]] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, dtype: Any = None) -> str:
        from onnx import numpy_helper

        name = self.fresh("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ops(self, op_type: str, inputs: list[str], n_out: int, **attrs: Any) -> list[str]:
        from onnx import helper

        domain = attrs.pop("domain", "")
        outputs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, self.fresh("n"), domain=domain, **attrs)
        )
        return outputs

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        return self.ops(op_type, list(inputs), 1, **attrs)[0]

    def dtype(self, name: str) -> str:
        if name not in self.schema.feature_names:
            raise _Unsupported(f"the model uses column '{name}', which the schema does not list")
        return self.schema.column(name).dtype

    def numbers(self, columns: list[str], step: str) -> str:
        """The (n, len(columns)) float64 matrix of number, integer or boolean columns."""
        for name in columns:
            if self.dtype(name) not in _NUMERIC:
                raise _Unsupported(f"{step} takes numbers but '{name}' is a {self.dtype(name)}")
            if name not in self.num:
                self.num.append(name)
        index = [self.num.index(c) for c in columns]
        out = self.op("Gather", "num", self.const(index, np.int64), axis=1)
        self._gathers.append((self.nodes[-1], index))
        return out

    def tokens(self, name: str, missing: str, step: str, fold: bool = False) -> str:
        """Column ``name`` as an (n, 1) string tensor of category tokens (stripped and
        lowercased with ``fold``)."""
        if self.dtype(name) == "datetime":
            raise _Unsupported(f"{step} on datetime column '{name}' has no ONNX converter")
        if (name, missing, fold) not in self.cat:
            self.cat.append((name, missing, fold))
        index = self.const([self.cat.index((name, missing, fold))], np.int64)
        return self.op("Gather", "cat", index, axis=1)

    def splice(self, model: Any, feed: str) -> dict[str, str]:
        """Copy another converter's graph in, fed by ``feed``; returns its outputs' names."""
        from onnx import NodeProto, TensorProto

        graph, prefix = model.graph, self.fresh("m") + "_"
        rename = {graph.input[0].name: feed}
        for node in graph.node:
            odd = node.domain not in ("", "ai.onnx.ml") or any(a.g.node for a in node.attribute)
            if odd or (node.domain == "" and node.op_type not in _SPLICE_OPS):
                raise _Unsupported(f"the converted booster uses an unexpected {node.op_type} op")
            rename.update({o: prefix + o for o in node.output if o})
        for init in graph.initializer:
            tensor = TensorProto()
            tensor.CopyFrom(init)
            tensor.name = rename[init.name] = prefix + init.name
            self.inits.append(tensor)
        for node in graph.node:
            copy = NodeProto()
            copy.CopyFrom(node)
            copy.name = prefix + (node.name or self.fresh("n"))
            copy.input[:] = [rename.get(i, i) for i in node.input]
            copy.output[:] = [rename.get(o, o) for o in node.output]
            self.nodes.append(copy)
        return {o.name: rename[o.name] for o in graph.output}

    def serialize(self, output: str, meta: dict[str, Any]) -> bytes:
        from onnx import TensorProto, helper

        if len(self._gathers) == 1 and self._gathers[0][1] == list(range(len(self.num))):
            node = self._gathers[0][0]  # the whole "num" input in its order: no copy
            self.inits = [t for t in self.inits if t.name != node.input[1]]
            node.op_type = "Identity"
            del node.input[1:], node.attribute[:]
        inputs = [
            helper.make_tensor_value_info(name, kind, [None, len(cols)])
            for name, kind, cols in (
                ("num", TensorProto.DOUBLE, self.num),
                ("cat", TensorProto.STRING, self.cat),
            )
            if cols
        ]
        self.nodes.append(helper.make_node("Identity", [output], ["y"], "output"))
        result = [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)]
        graph = helper.make_graph(self.nodes, "mlcycle", inputs, result, self.inits)
        opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="mlcycle")
        model.ir_version = 9
        meta |= {"num": self.num, "cat": [list(c) for c in self.cat]}
        helper.set_model_props(model, {"mlcycle": json.dumps(meta)})
        return bytes(model.SerializeToString())


# -- preparation ---------------------------------------------------------------------------


def _numeric_step(g: _Graph, step: Any, x: str, width: int, where: str) -> tuple[str, int]:
    """One numeric transformer on the (n, width) float64 tensor ``x``."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    from mlcycle.estimators import QuantileClipper

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return x, width
    if _name(step) == "ColumnCaster" and step.kind == "numeric":
        return x, width
    if _name(step) == "FunctionTransformer" and step.func is None:  # fitted "passthrough"
        return x, width
    if isinstance(step, QuantileClipper):
        low = g.const(np.where(np.isnan(step.lower_), -np.inf, step.lower_).reshape(1, -1))
        high = g.const(np.where(np.isnan(step.upper_), np.inf, step.upper_).reshape(1, -1))
        x = g.op("Where", g.op("Greater", x, high), high, x)  # NaN stays NaN, as np.clip
        return g.op("Where", g.op("Less", x, low), low, x), width
    if isinstance(step, StandardScaler):  # the same two operations as its transform()
        if step.with_mean and getattr(step, "mean_", None) is not None:
            x = g.op("Sub", x, g.const(step.mean_.reshape(1, -1)))
        if step.with_std and getattr(step, "scale_", None) is not None:
            x = g.op("Div", x, g.const(step.scale_.reshape(1, -1)))
        return x, width
    if isinstance(step, SimpleImputer):
        if not (isinstance(step.missing_values, float) and math.isnan(step.missing_values)):
            raise _Unsupported(f"SimpleImputer in {where} imputes {step.missing_values!r}")
        with warnings.catch_warnings():  # what the imputer puts in place of each NaN
            warnings.simplefilter("ignore")
            fill = np.asarray(step.transform(np.full((1, width), np.nan)), dtype=np.float64)
        indicator = getattr(step, "indicator_", None) if step.add_indicator else None
        flagged = [] if indicator is None else [int(i) for i in indicator.features_]
        if fill.shape[1] != width + len(flagged):
            raise _Unsupported(f"SimpleImputer in {where} drops empty columns")
        nan = g.op("IsNaN", x)
        out = g.op("Where", nan, g.const(fill[:, :width]), x)
        if not flagged:
            return out, width
        flags = g.op("Cast", g.op("Gather", nan, g.const(flagged, np.int64), axis=1), to=_DOUBLE)
        return g.op("Concat", out, flags, axis=1), width + len(flagged)
    raise _Unsupported(f"{_name(step)} in {where} has no ONNX converter")


def _boolean(g: _Graph, caster: Any, columns: list[str], where: str) -> str:
    """ColumnCaster(kind='boolean'): each value's learned 0/1, NaN when missing or unseen."""
    parts = []
    for name, mapping in zip(columns, caster.mappings_, strict=True):
        if g.dtype(name) not in _NUMERIC:  # text: its stripped, lowercased tokens looked up
            tokens = g.tokens(name, _UNSEEN, f"ColumnCaster(kind='boolean') in {where}", True)
            attrs = {"keys_strings": list(mapping), "values_floats": list(mapping.values())}
            code = g.op("LabelEncoder", tokens, domain="ai.onnx.ml", default_float=np.nan, **attrs)
            parts.append(g.op("Cast", code, to=_DOUBLE))
            continue
        x, out = g.numbers([name], f"ColumnCaster(kind='boolean') in {where}"), g.const([[np.nan]])
        for token, value in mapping.items():  # tokens are what the caster makes of the values
            if g.dtype(name) == "boolean":
                number = {"true": 1.0, "false": 0.0}.get(token)
            else:
                try:
                    number = float(token)
                except ValueError:
                    continue
            if number is not None:
                hit = g.op("Equal", x, g.const([[number]]))
                out = g.op("Where", hit, g.const([[float(value)]]), out)
        parts.append(out)
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)


def _encoder(g: _Graph, encoder: Any, tokens: list[str], where: str) -> tuple[str, int]:
    """A fitted category encoder as lookup tables (token -> row of the encoder's output),
    each made by the encoder's own ``transform`` of every known category and one unseen."""
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    known = [list(c) for c in encoder.categories_]
    if isinstance(encoder, OneHotEncoder):
        widths = [int(w) for w in encoder._n_features_outs]
    elif isinstance(encoder, OrdinalEncoder | TargetEncoder):
        multi = getattr(encoder, "target_type_", "") == "multiclass"
        widths = [len(encoder.classes_) if multi else 1] * len(known)
    else:
        raise _Unsupported(f"{_name(encoder)} in {where} has no ONNX converter")
    if not all(isinstance(v, str) for c in known for v in c):
        raise _Unsupported(f"{_name(encoder)} in {where} was fitted on non-text categories")
    parts, start = [], 0
    for j, (values, width) in enumerate(zip(known, widths, strict=True)):
        rows = np.array([[c[0] for c in known]] * (len(values) + 1), dtype=object)
        rows[:, j] = [*values, _UNSEEN]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                table = _dense(encoder.transform(rows))
            except ValueError:  # unseen categories are an error: NaN, not a silent guess
                table = _dense(encoder.transform(rows[:-1]))
                table = np.vstack([table, np.full((1, table.shape[1]), np.nan)])
        block = g.const(np.asarray(table[:, start : start + width], dtype=np.float64))
        start += width
        attrs = {"keys_strings": values, "values_int64s": list(range(len(values)))}
        code = g.op(
            "LabelEncoder", tokens[j], domain="ai.onnx.ml", default_int64=len(values), **attrs
        )
        parts.append(g.op("Gather", block, g.op("Reshape", code, g.const([-1], np.int64)), axis=0))
    return (parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)), start


def _dense(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


def _steps(g: _Graph, steps: list[Any], columns: list[str], where: str) -> tuple[str, int]:
    """One ColumnTransformer entry (its steps) on ``columns``; its float64 output."""
    from sklearn.impute import SimpleImputer

    on = f"column '{columns[0]}'" if len(columns) == 1 else f"columns {', '.join(columns)}"
    for step in steps:
        if _name(step) in _NO_CONVERTER:
            raise _Unsupported(f"{_name(step)} on {on} has no ONNX converter")
    first = steps[0] if steps else None
    kind = getattr(first, "kind", None) if _name(first) == "ColumnCaster" else "numeric"
    if kind == "boolean":
        return _numeric_steps(g, steps[1:], _boolean(g, first, columns, where), len(columns), where)
    if kind == "numeric" and isinstance(first, SimpleImputer) and isinstance(first.fill_value, str):
        kind, steps = "category", [None, *steps]  # text imputed without mlcycle's caster
    if kind == "category":
        impute = steps[1] if len(steps) > 2 else None
        if not (isinstance(impute, SimpleImputer) and isinstance(impute.fill_value, str)):
            raise _Unsupported(f"categories on {on} are not imputed with a token, then encoded")
        tokens = [g.tokens(c, impute.fill_value, f"{_name(steps[2])} in {where}") for c in columns]
        x, width = _encoder(g, steps[2], tokens, where)
        return _numeric_steps(g, steps[3:], x, width, where)
    if kind != "numeric":
        raise _Unsupported(f"ColumnCaster(kind={kind!r}) on {on} has no ONNX converter")
    return _numeric_steps(g, steps, g.numbers(columns, where), len(columns), where)


def _numeric_steps(g: _Graph, steps: list[Any], x: str, width: int, where: str) -> tuple[str, int]:
    for step in steps:
        x, width = _numeric_step(g, step, x, width, where)
    return x, width


def _columns(g: _Graph, ct: Any) -> tuple[str, int]:
    """A fitted ColumnTransformer: each entry on its columns, concatenated in order."""
    if getattr(ct, "sparse_output_", False):
        raise _Unsupported("the preparer outputs a sparse matrix")
    names = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    parts, total = [], 0
    for entry, transformer, selection in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        picked = [] if isinstance(selection, slice) else list(np.atleast_1d(selection))
        if isinstance(selection, slice) or not all(
            isinstance(c, str | int | np.integer) for c in picked
        ):
            raise _Unsupported(f"the preparer's '{entry}' columns are not given by name")
        if not picked:
            continue
        columns = [c if isinstance(c, str) else names[int(c)] for c in picked]
        pipeline = _name(transformer) == "Pipeline"
        steps = [s for _, s in transformer.steps] if pipeline else [transformer]
        x, width = _steps(g, steps, columns, f"the preparer's '{entry}' step")
        span = ct.output_indices_.get(entry)
        if span is not None and span.stop - span.start != width:
            raise _Unsupported(f"the preparer's '{entry}' step has an unexpected output width")
        parts.append(x)
        total += width
    if not parts:
        raise _Unsupported("the preparer outputs no features")
    return (parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)), total


# -- estimators ----------------------------------------------------------------------------


_NODE_FIELDS = (
    ("nodes_featureids", "feature"),
    ("nodes_values_as_tensor", "threshold"),
    ("nodes_truenodeids", "left"),
    ("nodes_falsenodeids", "right"),
    ("nodes_missing_value_tracks_true", "nan_left"),
)


class _Tree(NamedTuple):
    """One decision tree as arrays over its nodes (``left`` is -1 at leaves)."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    values: np.ndarray  # (nodes, len(targets)): what a leaf adds to each target
    targets: list[int]


def _trees(
    g: _Graph, x: str, trees: list[_Tree], n_targets: int, aggregate: str, base: Any = None
) -> str:
    """A TreeEnsembleRegressor with float64 thresholds and leaves; its output as float64."""
    from onnx import numpy_helper

    def join(parts: list[Any]) -> list[int]:
        return np.concatenate(parts).astype(np.int64).tolist()

    def tensor(parts: list[Any], name: str) -> Any:
        return numpy_helper.from_array(np.concatenate(parts).astype(np.float64), name)

    leaf = [t.left < 0 for t in trees]
    leaves = [np.flatnonzero(m) for m in leaf]
    kept = [  # (tree, target, leaves adding to it, what they add)
        (i, target, leaves[i][t.values[leaves[i], j] != 0], t.values[leaves[i], j])
        for i, t in enumerate(trees)
        for j, target in enumerate(t.targets)
    ]
    attrs: dict[str, Any] = {
        "nodes_treeids": join([np.full(len(t.left), i) for i, t in enumerate(trees)]),
        "nodes_nodeids": join([np.arange(len(t.left)) for t in trees]),
        "nodes_modes": np.concatenate([np.where(m, "LEAF", "BRANCH_LEQ") for m in leaf]).tolist(),
        "target_treeids": join([np.full(len(nodes), i) for i, _, nodes, _ in kept]),
        "target_nodeids": join([nodes for _, _, nodes, _ in kept]),
        "target_ids": join([np.full(len(nodes), target) for _, target, nodes, _ in kept]),
        "target_weights_as_tensor": tensor([w[w != 0] for *_, w in kept], "leaf_values"),
        "n_targets": n_targets,
        "aggregate_function": aggregate,
    }
    for key, field in _NODE_FIELDS:
        parts = [np.where(m, 0, getattr(t, field)) for m, t in zip(leaf, trees, strict=True)]
        attrs[key] = tensor(parts, key) if field == "threshold" else join(parts)
    if base is not None:
        attrs["base_values_as_tensor"] = numpy_helper.from_array(np.asarray(base, np.float64))
    out = g.op("TreeEnsembleRegressor", x, domain="ai.onnx.ml", **attrs)
    return g.op("Cast", out, to=_DOUBLE)


def _two_columns(g: _Graph, p: str) -> str:
    """[1 - p, p] from the (n, 1) probability of the second class."""
    return g.op("Concat", g.op("Sub", g.const([[1.0]]), p), p, axis=1)


def _forest(g: _Graph, est: Any, x: str) -> str:
    trees = []
    for tree in (e.tree_ for e in getattr(est, "estimators_", [est])):
        if tree.n_outputs != 1:
            raise _Unsupported(f"{_name(est)} with several outputs has no ONNX converter")
        nan_left = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count))
        values = tree.value[:, 0, :]
        nodes = (tree.children_left, tree.children_right, tree.feature, tree.threshold)
        trees.append(_Tree(*nodes, nan_left, values, list(range(values.shape[1]))))
    x = g.op("Cast", g.op("Cast", x, to=_FLOAT), to=_DOUBLE)  # scikit-learn's trees: float32 X
    return _trees(g, x, trees, trees[0].values.shape[1], "AVERAGE")


def _hgb(g: _Graph, est: Any, x: str) -> str:
    if getattr(est, "_preprocessor", None) is not None:
        raise _Unsupported(f"{_name(est)} with categorical features has no ONNX converter")
    trees = []
    for iteration in est._predictors:
        for k, predictor in enumerate(iteration):
            n = predictor.nodes
            if n["is_categorical"].any():
                raise _Unsupported(f"{_name(est)} with categorical splits has no ONNX converter")
            left = np.where(n["is_leaf"] > 0, -1, n["left"].astype(np.int64))
            nodes = (left, n["right"].astype(np.int64), n["feature_idx"], n["num_threshold"])
            trees.append(_Tree(*nodes, n["missing_go_to_left"], n["value"].reshape(-1, 1), [k]))
    base = est._baseline_prediction.ravel()
    raw = _trees(g, x, trees, est.n_trees_per_iteration_, "SUM", base)
    link = _name(est._loss.link)
    if link in ("IdentityLink", "LogLink"):
        return raw if link == "IdentityLink" else g.op("Exp", raw)
    if link == "LogitLink" and hasattr(est, "classes_"):
        return _two_columns(g, g.op("Sigmoid", raw))
    if link == "MultinomialLogit" and hasattr(est, "classes_"):
        return g.op("Softmax", raw, axis=1)
    raise _Unsupported(f"{_name(est)} with loss {_name(est._loss)} has no ONNX converter")


def _linear(g: _Graph, est: Any, x: str, classifier: bool) -> str:
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    if not classifier and coef.shape[0] != 1:
        raise _Unsupported(f"{_name(est)} with several targets has no ONNX converter")
    bias = g.const(np.reshape(est.intercept_, (1, -1)))
    decision = g.op("Add", g.op("MatMul", x, g.const(coef.T)), bias)
    if not classifier:
        return decision
    if coef.shape[0] == 1:
        return _two_columns(g, g.op("Sigmoid", decision))
    return g.op("Softmax", decision, axis=1)  # scikit-learn >= 1.5: multinomial


def _knn(g: _Graph, est: Any, x: str, classifier: bool) -> str:
    metric, weighting = est.effective_metric_, est.weights
    if metric not in ("euclidean", "manhattan") or weighting not in ("uniform", "distance"):
        raise _Unsupported(f"{_name(est)} ({metric}, {weighting} weights) has no ONNX converter")
    if getattr(est, "outputs_2d_", False):
        raise _Unsupported(f"{_name(est)} with several outputs has no ONNX converter")
    train = np.asarray(est._fit_X, dtype=np.float64)
    one = g.const([1], np.int64)
    if metric == "euclidean":  # |x|^2 - 2 x.t + |t|^2, as scikit-learn's brute force
        xx = g.op("ReduceSum", g.op("Mul", x, x), one, keepdims=1)
        sq = g.op("Add", g.op("MatMul", x, g.const(-2.0 * train.T)), xx)
        sq = g.op("Add", sq, g.const((train**2).sum(axis=1).reshape(1, -1)))
        dist = g.op("Sqrt", g.op("Max", sq, g.const(0.0)))
    else:
        diff = g.op("Sub", g.op("Unsqueeze", x, one), g.const(train[None]))
        dist = g.op("ReduceSum", g.op("Abs", diff), g.const([2], np.int64), keepdims=0)
    near, index = g.ops("TopK", [dist, g.const([est.n_neighbors], np.int64)], 2, largest=0)
    weights = None
    if weighting == "distance":  # an exact match takes all the weight, as in scikit-learn
        inverse = g.op("Reciprocal", near)
        exact = g.op("Cast", g.op("IsInf", inverse), to=_DOUBLE)
        hit = g.op("Greater", g.op("ReduceMax", exact, one, keepdims=1), g.const(0.0))
        weights = g.op("Where", hit, exact, inverse)
    if not classifier:
        y = g.op("Gather", g.const(np.asarray(est._y, np.float64).ravel()), index, axis=0)
        if weights is None:
            return g.op("ReduceMean", y, one, keepdims=1)
        total = g.op("ReduceSum", g.op("Mul", y, weights), one, keepdims=1)
        return g.op("Div", total, g.op("ReduceSum", weights, one, keepdims=1))
    two = g.const([2], np.int64)
    codes = g.op("Gather", g.const(np.asarray(est._y, np.int64).ravel()), index, axis=0)
    classes = g.const(np.arange(len(est.classes_)))
    votes = g.op("Cast", g.op("Equal", g.op("Unsqueeze", codes, two), classes), to=_DOUBLE)
    if weights is not None:
        votes = g.op("Mul", votes, g.op("Unsqueeze", weights, two))
    votes = g.op("ReduceSum", votes, one, keepdims=0)
    return g.op("Div", votes, g.op("ReduceSum", votes, one, keepdims=1))


def _lightgbm(g: _Graph, booster: Any, x: str) -> tuple[str, bool]:
    """A LightGBM booster from its dump, compared in float64 as LightGBM does (onnxmltools
    compares in float32, which sends values within float32 rounding of a threshold, such as
    large amounts or near-duplicate measurements, down the wrong branch)."""
    dump = booster.dump_model()
    per_iteration = int(dump["num_tree_per_iteration"])
    objective, *options = str(dump.get("objective", "")).split()
    link = _LGBM_LINKS.get(objective)
    if link is None:
        raise _Unsupported(f"LightGBM's {objective!r} objective has no ONNX converter")
    trees = []
    for i, info in enumerate(dump["tree_info"]):
        rows: list[list[float]] = []  # left, right, feature, threshold, NaN goes left, value
        stack: list[tuple[dict[str, Any], int, int]] = [(info["tree_structure"], -1, 0)]
        while stack:
            node, parent, side = stack.pop()
            if parent >= 0:
                rows[parent][side] = len(rows)
            if "split_feature" not in node:
                if "leaf_coeff" in node:
                    raise _Unsupported("LightGBM linear trees have no ONNX converter")
                rows.append([-1, -1, 0, 0.0, 0, float(node.get("leaf_value", 0.0))])
                continue
            if node["decision_type"] != "<=":
                raise _Unsupported("LightGBM categorical splits have no ONNX converter")
            cut, kind, default_left = node["threshold"], node["missing_type"], node["default_left"]
            if kind == "Zero" and (cut >= 0.0) != default_left:
                raise _Unsupported("LightGBM zero-as-missing splits have no ONNX converter")
            nan_left = (cut >= 0.0) if kind == "None" else default_left  # "None": NaN is 0
            stack += [(node["right_child"], len(rows), 1), (node["left_child"], len(rows), 0)]
            rows.append([0, 0, node["split_feature"], cut, float(nan_left), 0.0])
        a = np.asarray(rows, dtype=np.float64).T
        left, right, feature = (a[c].astype(np.int64) for c in range(3))
        nan_left, values = a[4].astype(np.int64), a[5:6].T
        trees.append(_Tree(left, right, feature, a[3], nan_left, values, [i % per_iteration]))
    raw = _trees(g, x, trees, per_iteration, "SUM")
    if dump.get("average_output"):
        raw = g.op("Div", raw, g.const(float(max(1, len(trees) // per_iteration))))
    if link == "sigmoid":
        scale = next((float(o[8:]) for o in options if o.startswith("sigmoid:")), 1.0)
        return _two_columns(g, g.op("Sigmoid", g.op("Mul", raw, g.const(scale)))), True
    if link == "softmax":
        return g.op("Softmax", raw, axis=1), True
    return (g.op("Exp", raw) if link == "exp" else raw), False


def _xgboost(g: _Graph, booster: Any, x: str, n_features: int) -> tuple[str, bool]:
    """An XGBoost booster through onnxmltools, on float32 inputs as XGBoost itself."""
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster = booster.copy()
    booster.feature_names = booster.feature_types = None  # onnxmltools reads only f0, f1...
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        types = [("X", FloatTensorType([None, n_features]))]
        model = convert_xgboost(booster, initial_types=types, target_opset=15)
    outputs = g.splice(model, g.op("Cast", x, to=_FLOAT))
    proba = "probabilities" in outputs
    out = g.op("Cast", outputs["probabilities" if proba else "variable"], to=_DOUBLE)
    return (out if proba else g.op("Reshape", out, g.const([-1, 1], np.int64))), proba


def _estimator(g: _Graph, est: Any, x: str, n_features: int) -> tuple[str, Any]:
    """The final estimator on the (n, n_features) float64 features: (output, classes_)."""
    from sklearn.base import is_classifier

    path, name, classifier = _path(est), _name(est), is_classifier(est)
    if getattr(est, "n_features_in_", n_features) != n_features:
        raise _Unsupported(f"{name} expects {est.n_features_in_} features, not {n_features}")
    if path.startswith(("lightgbm.", "xgboost.")):
        if path.startswith("lightgbm."):
            out, proba = _lightgbm(g, est.booster_, x)
        else:
            booster, best = est.get_booster(), getattr(est, "best_iteration", None)
            if not math.isnan(float(est.missing)):
                raise _Unsupported(f"{name} with missing={est.missing} has no ONNX converter")
            booster = booster if best is None else booster[: int(best) + 1]  # as predict()
            out, proba = _xgboost(g, booster, x, n_features)
        if proba != classifier:
            raise _Unsupported(f"{name} with objective {est.objective!r} has no ONNX converter")
    elif not path.startswith("sklearn."):
        raise _Unsupported(f"{name} has no ONNX converter")
    elif name in _LINEAR and path.startswith("sklearn.linear_model."):
        out = _linear(g, est, x, classifier)
    elif name.startswith(("RandomForest", "ExtraTrees", "DecisionTree", "ExtraTree")):
        out = _forest(g, est, x)
    elif name.startswith("HistGradientBoosting"):
        out = _hgb(g, est, x)
    elif name.startswith("KNeighbors"):
        out = _knn(g, est, x, classifier)
    else:
        raise _Unsupported(f"{name} has no ONNX converter")
    return out, (est.classes_ if classifier else None)


def _inputs(g: _Graph, names: Any, width: int | None, step: str) -> tuple[str, int]:
    """The numeric input matrix of a model fitted on a bare matrix: its columns by name,
    or the schema's features in order when it was not fitted on named columns."""
    columns = [str(n) for n in names] if names is not None else []
    if not columns or not set(columns) <= set(g.schema.feature_names):
        columns = g.schema.feature_names
    if width is not None and width != len(columns):
        raise _Unsupported(f"{step} takes {width} features; the schema lists {len(columns)}")
    return g.numbers(columns, step), len(columns)


def _pipeline(g: _Graph, model: Any) -> tuple[str, Any]:
    """A Pipeline or a bare estimator: preparation, then the estimator."""
    steps = [s for _, s in model.steps] if _name(model) == "Pipeline" else [model]
    *transforms, est = [s for s in steps if s is not None and not isinstance(s, str)]
    if transforms and _name(transforms[0]) == "ColumnTransformer":
        x, width = _columns(g, transforms.pop(0))
    else:
        first = (transforms or [est])[0]
        names = getattr(first, "feature_names_in_", None)
        x, width = _inputs(g, names, getattr(first, "n_features_in_", None), _name(first))
    x, width = _numeric_steps(g, transforms, x, width, "the pipeline")
    return _estimator(g, est, x, width)


def _native(g: _Graph, model: Any) -> tuple[str, Any, str]:
    """A bundle's NativeModel booster: (output, classes_, what ``predict`` returns)."""
    meta, booster = model.meta, model.booster
    x, width = _inputs(g, model.feature_names_in_, None, f"the {meta.get('wrapper')} booster")
    if _path(booster).startswith("lightgbm."):
        out, proba = _lightgbm(g, booster, x)
    else:
        if meta.get("missing") is not None or meta.get("booster") == "gblinear":
            raise _Unsupported("XGBoost with missing != NaN or gblinear has no ONNX converter")
        stop = int(meta.get("iteration_range", [0, 0])[1])
        out, proba = _xgboost(g, booster[:stop] if stop else booster, x, width)
    if model.kind == "classifier" and proba:
        return out, model.classes_, "labels"
    if model.kind == "classifier":
        raise _Unsupported(f"this booster's {model.objective!r} objective has no ONNX converter")
    if not proba:
        return out, None, "values"
    return out, None, "positive" if model.objective.startswith("binary") else "matrix"


def _ensemble(g: _Graph, model: Any) -> tuple[str, Any]:
    """A WeightedEnsemble: its members' outputs, weighted and summed in member order."""
    total = None
    for weight, member in zip(model.weights_, model.estimators_, strict=True):
        out, codes = _pipeline(g, member)
        if model.classes_ is not None and len(codes) != len(model.classes_):
            select = np.zeros((len(codes), len(model.classes_)))
            select[np.arange(len(codes)), np.asarray(codes, np.int64)] = 1.0
            out = g.op("MatMul", out, g.const(select))
        part = g.op("Mul", g.const(float(weight)), out)
        total = part if total is None else g.op("Add", total, part)
    if total is None:
        raise _Unsupported("the ensemble has no members")
    return total, model.classes_
