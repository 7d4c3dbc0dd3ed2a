"""The ``sklearn`` flavour: estimators and Pipelines through ``skops.io``, never pickle.

Loading trusts a type list written here, never one read from the bundle. mlcycle's own
types that bundles contain moved once, to :mod:`mlcycle.estimators`; a format-1 bundle
names them by their former paths, which ``FORMER_NAMES`` maps to today's before skops
sees the file, so loading a bundle never imports ``mlcycle.data`` or ``mlcycle.training``.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BundleError, require
from mlcycle.flavours._base import Flavour, Reader, SavedModel, example_table, library_of
from mlcycle.flavours._trees import check_skops_trees, read_skops_array

if TYPE_CHECKING:
    from mlcycle.schema import Schema

__all__ = ["TRUSTED_NAMES", "SklearnFlavour", "load_skops"]

# What a skops file may ask to build. Decided here, never read from a bundle, and checked
# node by node on the file's own schema.json before skops sees it (issue 14, finding 1): a
# function, a bound method, a partial or an operator can turn a trusted module into a call of
# ``eval``, so those loaders are refused outright, and every type is an exact name.
LOADERS = frozenset(
    {
        "DictNode", "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "JsonNode",
        "BytesNode", "BytearrayNode", "SliceNode", "TypeNode", "ObjectNode",
        "NdArrayNode", "DTypeNode", "RandomStateNode", "RandomGeneratorNode",
        "SparseMatrixNode", "LossNode", "TreeNode",
    }
)  # fmt: skip
"""skops loaders a bundle may use; never MethodNode, PartialNode, OperatorFuncNode,
ConstructorFromReduceNode or a generic ReduceNode, and FunctionNode only for
:data:`TRUSTED_FUNCTIONS`."""

TRUSTED_FUNCTIONS = frozenset(
    {
        # pooling and score functions estimators keep as parameters (FeatureAgglomeration,
        # SelectKBest, ...) and k-means' inner loops (BisectingKMeans): pure array functions
        "numpy.mean", "numpy.median", "numpy.max", "numpy.min", "numpy.sum",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.feature_selection._univariate_selection.f_regression",
        "sklearn.feature_selection._univariate_selection.r_regression",
        "sklearn.feature_selection._univariate_selection.chi2",
        "sklearn.feature_selection._mutual_info.mutual_info_classif",
        "sklearn.feature_selection._mutual_info.mutual_info_regression",
        "sklearn.cluster._kmeans._kmeans_single_lloyd",
        "sklearn.cluster._kmeans._kmeans_single_elkan",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",  # a BSpline's array namespace
    }
)  # fmt: skip
"""The only functions a FunctionNode may name (exact names)."""

TRUSTED_NAMES = frozenset(
    {
        "builtins.bool", "builtins.bytearray", "builtins.bytes", "builtins.dict",
        "builtins.float", "builtins.int", "builtins.list", "builtins.set", "builtins.slice",
        "builtins.str", "builtins.tuple",
        "collections.OrderedDict", "collections.defaultdict",
        "numpy.ndarray", "numpy.dtype", "numpy.random._generator.Generator",
        "numpy.random.mtrand.RandomState", "numpy.random._pcg64.PCG64",
        "numpy.random._mt19937.MT19937", "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        # scikit-learn's internal types that fitted estimators hold (all_estimators() adds
        # the public estimators themselves): losses, links, binning, tree structures,
        # neighbour search trees and their distance metrics.
        "sklearn._loss.link.HalfLogitLink", "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval", "sklearn._loss.link.LogLink",
        "sklearn._loss.link.LogitLink", "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.AbsoluteError", "sklearn._loss.loss.ExponentialLoss",
        "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfSquaredError", "sklearn._loss.loss.HuberLoss",
        "sklearn._loss.loss.PinballLoss",
        "sklearn._loss._loss.CyAbsoluteError", "sklearn._loss._loss.CyExponentialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss", "sklearn._loss._loss.CyHalfGammaLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss", "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss._loss.CyHuberLoss",
        "sklearn._loss._loss.CyPinballLoss", "sklearn._loss._loss.CyHalfTweedieLoss",
        "sklearn._loss._loss.CyHalfTweedieLossIdentity",
        "sklearn._loss.loss.HalfTweedieLoss", "sklearn._loss.loss.HalfTweedieLossIdentity",
        "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
        "sklearn.linear_model._sgd_fast.Hinge", "sklearn.linear_model._sgd_fast.Huber",
        "sklearn.linear_model._sgd_fast.Log", "sklearn.linear_model._sgd_fast.ModifiedHuber",
        "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
        "sklearn.linear_model._sgd_fast.SquaredHinge",
        "sklearn.linear_model._sgd_fast.SquaredLoss",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        # other internal parts of public estimators: kernels, optimisers, calibrators, splines
        "sklearn.gaussian_process.kernels.ConstantKernel",
        "sklearn.gaussian_process.kernels.DotProduct",
        "sklearn.gaussian_process.kernels.ExpSineSquared",
        "sklearn.gaussian_process.kernels.Exponentiation",
        "sklearn.gaussian_process.kernels.Matern",
        "sklearn.gaussian_process.kernels.PairwiseKernel",
        "sklearn.gaussian_process.kernels.Product", "sklearn.gaussian_process.kernels.RBF",
        "sklearn.gaussian_process.kernels.RationalQuadratic",
        "sklearn.gaussian_process.kernels.Sum", "sklearn.gaussian_process.kernels.WhiteKernel",
        "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.cluster._bisect_k_means._BisectingTree",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "scipy.interpolate._bsplines.BSpline",
        # cross-validation splitters an encoder keeps (TargetEncoder's cv): plain settings
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.model_selection._split.GroupKFold",
        "sklearn.model_selection._split.StratifiedGroupKFold",
        "sklearn.model_selection._split.RepeatedKFold",
        "sklearn.model_selection._split.RepeatedStratifiedKFold",
        "sklearn.model_selection._split.ShuffleSplit",
        "sklearn.model_selection._split.StratifiedShuffleSplit",
        "sklearn.model_selection._split.TimeSeriesSplit",
        # boosted steps inside a Pipeline
        "lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.sklearn.LGBMRanker", "lightgbm.basic.Booster",
        "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
        "xgboost.sklearn.XGBRanker", "xgboost.core.Booster",
        # mlcycle's own types (mlcycle.estimators.BUNDLE_TYPES): array transforms and a
        # weighted mean, no file or code access. Their paths are part of the bundle format.
        "mlcycle.estimators.ColumnCaster",
        "mlcycle.estimators.DatetimeFeatures",
        "mlcycle.estimators.QuantileClipper",
        "mlcycle.estimators.WeightedEnsemble",
    }
)  # fmt: skip
"""Exact type names trusted besides scikit-learn's public estimators and NumPy's scalar types
(both enumerated from the installed libraries by :func:`trusted_types`, never by prefix)."""

MODEL_FILE = "model/model.skops"


class SklearnFlavour(Flavour):
    """Fitted scikit-learn estimators and Pipelines (boosted final steps included)."""

    name = "sklearn"
    requires = (("skops.io", "skops"),)

    @classmethod
    def accepts(cls, model: object) -> bool:
        return "sklearn" in library_of(model) and hasattr(model, "get_params")

    def save(self, model: Any, schema: Schema | None) -> SavedModel:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        sio: Any = require("skops.io", "sklearn")
        try:
            check_is_fitted(model)
        except NotFittedError as exc:
            raise BundleError(f"The model is not fitted: {exc} Fit it before bundling.") from exc
        try:
            data = sio.dumps(model)
        except Exception as exc:
            raise BundleError(
                f"skops could not serialise the {type(model).__name__}: {exc}. Only objects "
                "skops can persist without pickle can be bundled."
            ) from exc
        estimator = f"{type(model).__module__}.{type(model).__qualname__}"
        info = {"loader": "skops", "path": MODEL_FILE, "estimator": estimator}
        return SavedModel({MODEL_FILE: data}, info)

    def load(self, read: Reader, info: dict[str, Any], schema: Schema | None) -> Any:
        self.check_installed()
        return load_skops(read(info["path"]), "model")

    def example(self, task: str) -> tuple[Any, Any]:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = example_table(task)
        estimator = Ridge() if task == "regression" else LogisticRegression(max_iter=500)
        return make_pipeline(StandardScaler(), estimator).fit(X, y), X


@functools.cache
def _library_types() -> frozenset[str]:
    """scikit-learn's public estimators and NumPy's scalar types, by exact name."""
    import numpy as np
    from sklearn.utils import all_estimators

    estimators = {f"{cls.__module__}.{cls.__qualname__}" for _, cls in all_estimators()}
    scalars = {f"{t.__module__}.{t.__qualname__}" for t in set(np.sctypeDict.values())}
    return frozenset(estimators | scalars)


def trusted_types() -> frozenset[str]:
    """Every type name a bundle's skops files may build (exact names)."""
    return _library_types() | TRUSTED_NAMES


def _schema_of(data: bytes, what: str) -> Any:
    """The parsed ``schema.json`` of a skops archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BundleError(f"The skops {what} is not a valid skops archive: {exc}.") from exc


def _check_nodes(schema: Any, what: str) -> tuple[set[str], bool]:
    """Walk every node of a skops ``schema.json`` once: rename the former type paths of
    format-1 bundles in place (``FORMER_NAMES``), and refuse any loader outside
    :data:`LOADERS` and any type outside :func:`trusted_types`. Returns the type names the
    file builds and whether anything was renamed."""
    from mlcycle.estimators import FORMER_NAMES

    trusted, seen, refused, renamed = trusted_types(), set(), set(), False
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if "__loader__" not in node:
            continue
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        if name in FORMER_NAMES:
            name, renamed = FORMER_NAMES[name], True
            node["__module__"], node["__class__"] = name.rsplit(".", 1)
        if node["__loader__"] == "FunctionNode" and name in TRUSTED_FUNCTIONS:
            seen.add(name)
        elif not isinstance(node["__loader__"], str) or node["__loader__"] not in LOADERS:
            refused.add(f"{name} (built by {node['__loader__']!s:.40})")
        elif name not in trusted:
            refused.add(name)
        else:
            seen.add(name)
    if refused:
        raise BundleError(
            f"The {what} contains types mlcycle does not trust: {', '.join(sorted(refused))}. "
            "Only scikit-learn estimators, NumPy arrays, LightGBM, XGBoost and mlcycle's own "
            "types are loaded, and never a function, method or partial; rebuild the model "
            "from those (a class defined in a script's __main__ can never be loaded back)."
        )
    return seen, renamed


def _with_schema(data: bytes, schema: Any) -> bytes:
    """The skops archive ``data`` with its ``schema.json`` replaced by ``schema``."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename == "schema.json":
                body = json.dumps(schema).encode("utf-8")
            target.writestr(item, body)
    return out.getvalue()


def load_skops(data: bytes, what: str) -> object:
    """A scikit-learn object from skops bytes: every node of the file checked against the
    fixed loader and type lists first (former type names of format-1 bundles rewritten on
    the way) and every tree's structure checked, then built by skops with exactly those
    types."""
    sio: Any = require("skops.io", "sklearn")
    schema = _schema_of(data, what)
    seen, renamed = _check_nodes(schema, what)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # trees crash natively (finding 2)
        check_skops_trees(schema, read_skops_array(archive), f"skops {what}")
    if renamed:
        data = _with_schema(data, schema)
    try:
        return sio.loads(data, trusted=sorted(seen))
    except Exception as exc:
        raise BundleError(f"The skops {what} cannot be loaded: {exc}.") from exc
