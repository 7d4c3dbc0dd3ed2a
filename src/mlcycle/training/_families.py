"""Model families: what each one is, the library it needs, its search space and its defaults.

A family turns a flat dict of hyperparameters into an unfitted estimator. Search spaces are
Optuna ``suggest_*`` calls whose names are prefixed with the family (``lgbm.num_leaves``), so
one study can search all families at once: the family is itself a categorical parameter and
TPE learns which families and which regions are worth sampling. Every family also has a
default configuration, tried first, so a short budget still finishes with sound models.

Boosted trees (``lgbm``, ``xgb``) train with early stopping on a share of the training fold
(never on the fold they are scored on); the number of rounds they reached is kept and used,
scaled, for the final refit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle.exceptions import BadParameterError, require

if TYPE_CHECKING:
    import optuna

__all__ = [
    "EARLY_STOPPING_SHARE",
    "FAMILIES",
    "FIRST",
    "PORTFOLIO",
    "Family",
    "check_families",
    "default_families",
]

MAX_ROUNDS = 5000
EARLY_STOPPING_ROUNDS = 50
EARLY_STOPPING_SHARE = 0.15  # of a training fold, held back to stop boosting on


@dataclass(frozen=True)
class Family:
    """One model family: ``build(params, task, seed, n_jobs)`` returns an unfitted estimator.

    ``scaled``: the family wants standardised numeric features (linear, kNN); tree families
    get unscaled ones. ``boosted``: trained with early stopping; ``params`` then include
    ``n_estimators`` only for the final refit. ``module``/``extra``: the library it needs and
    the mlcycle extra that installs it.
    """

    name: str
    title: str
    space: Callable[[optuna.Trial, str, int], dict[str, Any]]
    defaults: Callable[[str, int], dict[str, Any]]
    build: Callable[[dict[str, Any], str, int, int], Any]
    scaled: bool = False
    boosted: bool = False
    module: str | None = None
    extra: str | None = None

    def available(self) -> bool:
        if self.module is None:
            return True
        import importlib.util
        import sys

        if self.module in sys.modules:  # None there means "import refused"
            return sys.modules[self.module] is not None
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def require(self) -> None:
        if self.module is not None and self.extra is not None:
            require(self.module, self.extra)


def _classifier(task: str) -> bool:
    return task in ("binary", "multiclass")


# -- linear --------------------------------------------------------------------------------


def _linear_space(trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
    if task == "binary":  # lasso or ridge logistic regression
        return {
            "C": trial.suggest_float("linear.C", 1e-4, 1e3, log=True),
            "l1_ratio": trial.suggest_categorical("linear.l1_ratio", [0.0, 1.0]),
        }
    if _classifier(task):
        return {"C": trial.suggest_float("linear.C", 1e-4, 1e3, log=True)}
    return {"alpha": trial.suggest_float("linear.alpha", 1e-4, 1e4, log=True)}


def _linear_defaults(task: str, n_rows: int) -> dict[str, Any]:
    if task == "binary":
        return {"C": 1.0, "l1_ratio": 0.0}
    return {"C": 1.0} if _classifier(task) else {"alpha": 1.0}


def _linear_build(params: dict[str, Any], task: str, seed: int, n_jobs: int) -> Any:
    if _classifier(task):
        from sklearn.linear_model import LogisticRegression

        l1_ratio = float(params.get("l1_ratio", 0.0))
        return LogisticRegression(
            C=params["C"],
            l1_ratio=l1_ratio,
            solver="liblinear" if l1_ratio > 0 else "lbfgs",
            # liblinear's lasso can crawl on separable data (13 ms an iteration on 2,000 rows,
            # to its limit): few iterations keep one trial from eating the budget
            max_iter=200 if l1_ratio > 0 else 1000,
            random_state=seed,
        )
    from sklearn.linear_model import Ridge

    return Ridge(alpha=params["alpha"], random_state=seed)


# -- random forest and extra trees ---------------------------------------------------------


def _forest_space(prefix: str) -> Callable[[optuna.Trial, str, int], dict[str, Any]]:
    def space(trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        return {
            "max_features": trial.suggest_float(f"{prefix}.max_features", 0.05, 1.0),
            "min_samples_leaf": trial.suggest_int(f"{prefix}.min_samples_leaf", 1, 32, log=True),
            "criterion": trial.suggest_categorical(
                f"{prefix}.criterion",
                ["gini", "entropy"] if _classifier(task) else ["squared_error"],
            ),
            "n_estimators": forest_size(n_rows),  # fixed by the data's size, not searched
        }

    return space


def _forest_defaults(task: str, n_rows: int) -> dict[str, Any]:
    if _classifier(task):
        return {"max_features": 0.3, "min_samples_leaf": 1, "criterion": "gini"}
    return {"max_features": 0.6, "min_samples_leaf": 2, "criterion": "squared_error"}


def forest_size(n_rows: int) -> int:
    """Trees per forest: more trees help less than they cost once rows are many."""
    return 300 if n_rows <= 2000 else 200 if n_rows <= 10_000 else 100


def _forest_build(kind: str) -> Callable[[dict[str, Any], str, int, int], Any]:
    def build(params: dict[str, Any], task: str, seed: int, n_jobs: int) -> Any:
        from sklearn import ensemble

        name = ("RandomForest" if kind == "rf" else "ExtraTrees") + (
            "Classifier" if _classifier(task) else "Regressor"
        )
        return getattr(ensemble, name)(
            n_estimators=params.get("n_estimators", 300),
            max_features=params["max_features"],
            min_samples_leaf=params["min_samples_leaf"],
            criterion=params["criterion"],
            n_jobs=n_jobs,
            random_state=seed,
        )

    return build


# -- histogram gradient boosting (scikit-learn) --------------------------------------------


def _hgb_space(trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("hgb.learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("hgb.max_leaf_nodes", 4, 128, log=True),
        "min_samples_leaf": trial.suggest_int("hgb.min_samples_leaf", 2, 100, log=True),
        "l2_regularization": trial.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
        "max_features": trial.suggest_float("hgb.max_features", 0.3, 1.0),
        "early_stopping": trial.suggest_categorical("hgb.early_stopping", [True, False]),
    }


def _hgb_defaults(task: str, n_rows: int) -> dict[str, Any]:
    """scikit-learn's own defaults: 100 rounds, no early stopping below 10,000 rows."""
    return {
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 1e-6,
        "max_features": 1.0,
        "early_stopping": n_rows > 10_000,
    }


def _hgb_build(params: dict[str, Any], task: str, seed: int, n_jobs: int) -> Any:
    """Early stopping on 10 % of the rows and up to 1,000 rounds, or scikit-learn's 100."""
    from sklearn import ensemble

    name = "HistGradientBoosting" + ("Classifier" if _classifier(task) else "Regressor")
    values = dict(params)
    stopping = bool(values.pop("early_stopping", True))
    return getattr(ensemble, name)(
        max_iter=1000 if stopping else 100,
        early_stopping=stopping,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
        **values,
    )


# -- LightGBM ------------------------------------------------------------------------------


def _lgbm_space(trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("lgbm.learning_rate", 0.005, 0.3, log=True),
        "num_leaves": trial.suggest_int("lgbm.num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int("lgbm.min_child_samples", 2, 100, log=True),
        "subsample": trial.suggest_float("lgbm.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("lgbm.colsample_bytree", 0.2, 1.0),
        "reg_alpha": trial.suggest_float("lgbm.reg_alpha", 1e-8, 10.0, log=True),
        "reg_lambda": trial.suggest_float("lgbm.reg_lambda", 1e-8, 10.0, log=True),
    }


def _lgbm_defaults(task: str, n_rows: int) -> dict[str, Any]:
    return {
        "learning_rate": 0.05,
        "num_leaves": 31 if n_rows >= 2000 else 15,
        "min_child_samples": 20 if n_rows >= 1000 else 5,
        "subsample": 0.9,
        "colsample_bytree": 0.8,
        "reg_alpha": 1e-8,
        "reg_lambda": 1e-3,
    }


def _lgbm_build(params: dict[str, Any], task: str, seed: int, n_jobs: int) -> Any:
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if _classifier(task) else lgb.LGBMRegressor
    values = {"n_estimators": MAX_ROUNDS, **params}
    return cls(subsample_freq=1, n_jobs=n_jobs, random_state=seed, verbose=-1, **values)


# -- XGBoost -------------------------------------------------------------------------------


def _xgb_space(trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("xgb.learning_rate", 0.005, 0.3, log=True),
        "max_depth": trial.suggest_int("xgb.max_depth", 2, 10),
        "min_child_weight": trial.suggest_float("xgb.min_child_weight", 0.5, 50.0, log=True),
        "subsample": trial.suggest_float("xgb.subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("xgb.colsample_bytree", 0.2, 1.0),
        "reg_alpha": trial.suggest_float("xgb.reg_alpha", 1e-8, 10.0, log=True),
        "reg_lambda": trial.suggest_float("xgb.reg_lambda", 1e-6, 10.0, log=True),
    }


def _xgb_defaults(task: str, n_rows: int) -> dict[str, Any]:
    return {
        "learning_rate": 0.05,
        "max_depth": 6 if n_rows >= 2000 else 4,
        "min_child_weight": 1.0,
        "subsample": 0.9,
        "colsample_bytree": 0.8,
        "reg_alpha": 1e-8,
        "reg_lambda": 1.0,
    }


def _xgb_build(params: dict[str, Any], task: str, seed: int, n_jobs: int) -> Any:
    import xgboost as xgb

    cls = xgb.XGBClassifier if _classifier(task) else xgb.XGBRegressor
    values = {"n_estimators": MAX_ROUNDS, **params}
    return cls(tree_method="hist", n_jobs=n_jobs, random_state=seed, **values)


# -- k nearest neighbours ------------------------------------------------------------------


def _knn_space(trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
    return {
        "n_neighbors": trial.suggest_int(
            "knn.n_neighbors", 1, max(2, min(100, n_rows // 4)), log=True
        ),
        "weights": trial.suggest_categorical("knn.weights", ["uniform", "distance"]),
        "p": trial.suggest_categorical("knn.p", [1, 2]),
    }


def _knn_defaults(task: str, n_rows: int) -> dict[str, Any]:
    return {"n_neighbors": max(1, min(10, n_rows // 10)), "weights": "distance", "p": 2}


def _knn_build(params: dict[str, Any], task: str, seed: int, n_jobs: int) -> Any:
    from sklearn import neighbors

    cls = neighbors.KNeighborsClassifier if _classifier(task) else neighbors.KNeighborsRegressor
    return cls(n_jobs=n_jobs, **params)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "lgbm",
            "LightGBM",
            _lgbm_space,
            _lgbm_defaults,
            _lgbm_build,
            boosted=True,
            module="lightgbm",
            extra="lightgbm",
        ),
        Family(
            "xgb",
            "XGBoost",
            _xgb_space,
            _xgb_defaults,
            _xgb_build,
            boosted=True,
            module="xgboost",
            extra="xgboost",
        ),
        Family("rf", "random forest", _forest_space("rf"), _forest_defaults, _forest_build("rf")),
        Family("et", "extra trees", _forest_space("et"), _forest_defaults, _forest_build("et")),
        Family("hgb", "histogram gradient boosting", _hgb_space, _hgb_defaults, _hgb_build),
        Family(
            "linear",
            "regularised linear/logistic",
            _linear_space,
            _linear_defaults,
            _linear_build,
            scaled=True,
        ),
        Family("knn", "k nearest neighbours", _knn_space, _knn_defaults, _knn_build, scaled=True),
    )
}
"""Every family by name."""

FIRST = ("hgb", "lgbm", "linear", "rf", "xgb", "et", "knn")
"""The order the families' defaults are tried in: strong and cheap first, so that a search cut
short by its budget has the model one second of defaults gets (scikit-learn's own histogram
gradient boosting) before anything else."""

PORTFOLIO: tuple[tuple[str, dict[str, Any]], ...] = (
    # Known-good configurations tried after the defaults, each over its family's defaults:
    # two of LightGBM's and one of XGBoost's from AutoGluon's zero-shot portfolio (learned on
    # the ~200 tables of its TabRepo study: "GBMLarge", LightGBM_r131, XGBoost_r33), and the
    # extra trees every feature may split (AutoGluon's and scikit-learn's regression default).
    ("lgbm", {"learning_rate": 0.03, "num_leaves": 128, "colsample_bytree": 0.9}),
    ("lgbm", {"learning_rate": 0.012, "num_leaves": 53, "colsample_bytree": 0.7}),
    ("xgb", {"learning_rate": 0.018, "max_depth": 10, "min_child_weight": 0.6}),
    ("et", {"max_features": 1.0, "min_samples_leaf": 1}),
)
"""The portfolio: configurations tried after every family's default, in this order."""

_ALIASES = {
    "lightgbm": "lgbm",
    "xgboost": "xgb",
    "random_forest": "rf",
    "extra_trees": "et",
    "hist_gradient_boosting": "hgb",
    "logistic": "linear",
    "ridge": "linear",
    "kneighbors": "knn",
}


def check_families(names: object) -> list[str]:
    """Validate a family list (names or aliases); raise with an install hint when missing."""
    if names is None:
        return default_families()
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if not isinstance(names, list | tuple) or not names:
        raise BadParameterError(
            "The 'families' parameter of train() must be a non-empty list of family names. "
            f"Got {names!r} instead. Families: {', '.join(FAMILIES)}."
        )
    chosen: list[str] = []
    for raw in names:
        if not isinstance(raw, str):
            raise BadParameterError(f"A family name must be a string. Got {raw!r} instead.")
        key = raw.strip().lower()
        key = _ALIASES.get(key, key)
        if key not in FAMILIES:
            raise BadParameterError(
                f"Unknown model family {raw!r}. Families: {', '.join(FAMILIES)}."
            )
        FAMILIES[key].require()
        if key not in chosen:
            chosen.append(key)
    return chosen


def default_families() -> list[str]:
    """Every family whose library is installed."""
    return [name for name, family in FAMILIES.items() if family.available()]
