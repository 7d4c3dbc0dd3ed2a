"""Drift of a window of inputs (and the model's outputs) against the training data.

:func:`drift` compares ``current`` (a window of the prediction log, a DataFrame or a pyarrow
Table) with ``reference``: the training rows themselves, the reference dict that
:func:`mlcycle.data.build_reference` stored in the bundle at training time, or the bundle.

Per feature, by kind:

- numbers: **PSI** on the reference's decile bins, the **Kolmogorov-Smirnov** statistic and
  its p-value, and the **Wasserstein** distance divided by the reference's standard deviation;
- categories: the **chi-square** test of homogeneity on the category counts (the reference's
  categories plus one cell for every other value, unseen ones included), the **Jensen-Shannon**
  distance (base 2) and PSI on the same cells, and the **share of unseen** values;
- both: the **share of missing** values, tested with a 2 x 2 chi-square when either side has
  missing values (the feature's p-value is then the smaller of the two, doubled).

Against a reference DataFrame, KS and Wasserstein are exact two-sample statistics. Against a
reference dict they come from its 101 quantiles: KS compares the reference's quantile CDF with
the current ECDF at those points, which is at most 0.01 (one grid step) below the exact
statistic; Wasserstein is the mean ``|Q_ref(p) - Q_cur(p)|`` over the levels 1 %..99 % (the
distance of the central 98 %: the sample minimum and maximum grow with the row count).

**Decision.** p-values are adjusted with Benjamini-Hochberg over every tested column (the
features, the prediction and the target). A column drifts when its adjusted p-value is below
``alpha`` *and* one effect size reaches its threshold (:class:`DriftThresholds`): a million-row
window makes every trivial shift significant, and the effect size keeps those quiet. PSI at or
above its threshold also flags a column on its own (the industry rule of thumb), but only where
PSI means something: chance alone gives about ``(bins - 1) * (1 / n_ref + 1 / n_cur)`` (0.3 for
a 30-row window and ten bins), so PSI flags alone only where that is at most a quarter of the
threshold (from about 200 current rows with ten bins and the default 0.2).

**Multivariate drift.** A domain classifier (scikit-learn's ``HistGradientBoostingClassifier``,
seeded) learns to tell at most 5,000 reference rows from at most 5,000 current rows; its
3-fold cross-validated ROC-AUC is about 0.5 when the two are alike. At or above
``thresholds.auc`` the window drifts as a whole, and ``top_features`` (permutation importance
on a held-out fold; empty when there is no drift) name the columns that give it away: this
catches changes in how features move together that no single column shows. It needs reference
rows: the DataFrame, the bundle's ``extra/reference_sample.parquet`` or ``reference_sample=``.

**Prediction and target.** Columns of ``current`` by the prediction log's names: a binary
classifier's probability ``proba.<class>`` (the reference's positive class), else its label
``prediction``; a regressor's ``prediction_value``, else ``prediction``. The target (feedback
labels joined to the window) is the column named by ``target=``, else the reference target's
own name, else ``label_value`` (numbers) or ``label`` (the feedback log's names). Only
non-missing outputs are compared: most predictions never get a label. In a reference DataFrame
the columns ``prediction``, ``prediction_value``, ``proba.*`` and the ``target=`` column are
outputs, never features (its target is compared only when ``target=`` names it).

>>> report = drift(train_df, window_df)          # doctest: +SKIP
>>> report.drifted, report.summary()             # doctest: +SKIP
(['income'], 'Drift in 1 of 20 features (5%): income; multivariate AUC 0.54, no drift; ...')
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlcycle.data import category_text
from mlcycle.exceptions import BundleError, DataError, bad_parameter, is_integer
from mlcycle.monitoring._stats import (
    benjamini_hochberg,
    chi2_homogeneity,
    domain_auc,
    js_distance,
    ks_from_quantiles,
    ks_pvalue,
    ks_wasserstein_exact,
    psi,
    psi_chance,
    shares,
    sorted_quantiles,
    wasserstein_from_quantiles,
)
from mlcycle.predlog import COLUMNS, class_of, proba_column

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DriftReport", "DriftThresholds", "FeatureDrift", "MultivariateDrift", "drift"]

DOMAIN_ROWS = 5000
"""Rows taken from each side for the domain classifier."""
"""The bundle's ``extra/`` file with reference rows for the domain classifier."""
TOP_FEATURES = 10
OTHER = "(other)"
_MIN_DOMAIN_ROWS = 30
_MAX_CODES = 254  # HistGradientBoosting takes categories as codes below max_bins (255)


@dataclass(frozen=True)
class DriftThresholds:
    """Effect sizes from which a significant difference counts as drift.

    ``psi`` (which also flags on its own), ``ks`` (KS statistic), ``wasserstein`` (divided by
    the reference's standard deviation), ``js`` (Jensen-Shannon distance), ``missing`` (absolute
    change of the missing share), ``unseen`` (share of current values the reference never had,
    above the reference's own share of values outside its stored categories) and ``auc`` (the
    domain classifier's ROC-AUC).

    >>> DriftThresholds(psi=0.1).psi
    0.1
    """

    psi: float = 0.2
    ks: float = 0.1
    wasserstein: float = 0.1
    js: float = 0.1
    missing: float = 0.1
    unseen: float = 0.05
    auc: float = 0.6

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if spec.name == "auc":
                if not (number and 0.5 < value <= 1):
                    raise bad_parameter("auc", "DriftThresholds()", "a number in (0.5, 1]", value)
            elif not (number and math.isfinite(value) and value > 0):
                raise bad_parameter(spec.name, "DriftThresholds()", "a number > 0", value)


@dataclass
class FeatureDrift:
    """The tests of one column; statistics that do not apply to its kind are None.

    ``unseen_share`` is the share of current (non-missing) values outside the reference's
    stored categories: values it never had, or when it was capped at ``max_categories`` its
    rarest ones (the ``(other)`` cell). ``histogram`` holds what a chart needs: ``edges``
    (numbers; ``None`` ends stand for -inf/+inf) or ``categories``, and the ``reference`` and
    ``current`` shares per bin.
    """

    name: str
    kind: str
    drifted: bool = False
    reasons: list[str] = field(default_factory=list)
    psi: float | None = None
    ks: float | None = None
    ks_p: float | None = None
    wasserstein: float | None = None
    chi2_p: float | None = None
    js: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    missing_share_reference: float = 0.0
    missing_share_current: float = 0.0
    unseen_share: float | None = None
    histogram: dict[str, Any] = field(default_factory=dict)
    _other_share_reference: float = field(default=0.0, init=False, repr=False)
    _psi_chance: float = field(default=math.inf, init=False, repr=False)
    _missing_tested: bool = field(default=True, init=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The tests as a JSON-safe dict (NaN as null)."""
        return {
            spec.name: _json_safe(getattr(self, spec.name))
            for spec in fields(self)
            if not spec.name.startswith("_")
        }


@dataclass
class MultivariateDrift:
    """The domain classifier: cross-validated ROC-AUC and the features that give it away."""

    auc: float
    drifted: bool
    top_features: list[tuple[str, float]] = field(default_factory=list)
    rows_reference: int = 0
    rows_current: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-safe dict; ``top_features`` as ``[name, importance]`` pairs."""
        return dict(_json_safe(asdict(self)))


@dataclass
class DriftReport:
    """What :func:`drift` found. ``drifted`` lists feature names (not prediction or target)."""

    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    target: FeatureDrift | None
    multivariate: MultivariateDrift | None
    drifted: list[str]
    share_drifted: float
    rows_reference: int
    rows_current: int
    alpha: float
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    notes: list[str] = field(default_factory=list)

    def feature(self, name: str) -> FeatureDrift:
        """The tests of the feature called ``name``."""
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-safe dict (``json.dumps(..., allow_nan=False)`` succeeds)."""
        return {
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "target": self.target.to_dict() if self.target else None,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "drifted": list(self.drifted),
            "share_drifted": self.share_drifted,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "alpha": self.alpha,
            "thresholds": asdict(self.thresholds),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """One line: which features drifted, then prediction, target and multivariate drift."""
        n = len(self.features)
        if self.drifted:
            shown = ", ".join(self.drifted[:10]) + (", ..." if len(self.drifted) > 10 else "")
            parts = [
                f"Drift in {len(self.drifted)} of {n} features ({self.share_drifted:.0%}): {shown}"
            ]
        else:
            parts = [f"No drift in {n} feature{'s' if n != 1 else ''}"]
        for what, item in (("prediction", self.prediction), ("target", self.target)):
            if item is not None:
                parts.append(f"{what} {'drifted' if item.drifted else 'stable'}")
        if self.multivariate is not None:
            verdict = "drift" if self.multivariate.drifted else "no drift"
            parts.append(f"multivariate AUC {self.multivariate.auc:.2f}, {verdict}")
        parts.append(f"{self.rows_current:,} current vs {self.rows_reference:,} reference rows")
        return "; ".join(parts) + "."


# -- the entry point --------------------------------------------------------------------------


def drift(
    reference: Any,
    current: pd.DataFrame | pa.Table,
    *,
    features: list[str] | None = None,
    alpha: float = 0.05,
    thresholds: DriftThresholds | None = None,
    multivariate: bool = True,
    reference_sample: pd.DataFrame | None = None,
    prediction: str = COLUMNS.prediction,
    target: str | None = None,
    seed: int = 0,
) -> DriftReport:
    """Compare ``current`` with ``reference`` feature by feature, and as a whole.

    ``reference``: a DataFrame of training rows, a :func:`mlcycle.data.build_reference` dict,
    or a :class:`mlcycle.bundle.Bundle` (its ``reference_profile["drift"]`` and reference
    sample). ``current``: a DataFrame or pyarrow Table whose column names are the feature
    names (strip the prediction log's ``input.`` prefix). ``features`` restricts the test to
    some features; by default every reference feature present in ``current`` is tested.
    ``prediction`` and ``target`` name the output columns (see the module docstring).
    """
    owner = "drift()"
    thresholds = DriftThresholds() if thresholds is None else thresholds
    if not isinstance(thresholds, DriftThresholds):
        raise bad_parameter("thresholds", owner, "a DriftThresholds", type(thresholds))
    if not (isinstance(alpha, int | float) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise bad_parameter("alpha", owner, "a number between 0 and 1", alpha)
    if not is_integer(seed):
        raise bad_parameter("seed", owner, "an integer", seed)
    if not isinstance(prediction, str):
        raise bad_parameter("prediction", owner, "a column name", prediction)
    if target is not None and not isinstance(target, str):
        raise bad_parameter("target", owner, "a column name or None", target)
    if reference_sample is not None and not isinstance(reference_sample, pd.DataFrame):
        raise bad_parameter("reference_sample", owner, "a pandas DataFrame", type(reference_sample))
    window = _Window.of(current)
    if window.rows == 0:
        raise DataError("The current data has no rows; drift needs at least one.")
    notes: list[str] = []

    ref = _Reference.of(reference, reference_sample)
    if ref.frame is not None:
        ref.profile_frame(prediction, target)
    names = _tested_features(ref, window, features, notes)

    columns = [_test_feature(name, ref, window) for name in names]
    output = _test_output(ref, window, prediction, "prediction", notes)
    label = _test_output(ref, window, target, "target", notes)
    tested = [c for c in (*columns, output, label) if c is not None]
    _decide(tested, alpha, thresholds)

    domain = None
    if multivariate:
        domain = _domain_drift(ref, window, names, thresholds, int(seed), notes)
    drifted = [c.name for c in columns if c.drifted]
    return DriftReport(
        features=columns,
        prediction=output,
        target=label,
        multivariate=domain,
        drifted=drifted,
        share_drifted=len(drifted) / len(columns),
        rows_reference=ref.rows,
        rows_current=window.rows,
        alpha=float(alpha),
        thresholds=thresholds,
        notes=notes,
    )


# -- the two sides ----------------------------------------------------------------------------


class _Reference:
    """The reference dict, and for a reference DataFrame its rows for the exact tests."""

    def __init__(
        self,
        profile: dict[str, Any] | None,
        frame: pd.DataFrame | None,
        sample: pd.DataFrame | None,
    ) -> None:
        self.profile: dict[str, Any] = profile or {}
        self.frame = frame
        self.sample = sample
        self.rows = int(self.profile.get("rows", len(frame) if frame is not None else 0))

    @classmethod
    def of(cls, reference: Any, sample: pd.DataFrame | None) -> _Reference:
        from mlcycle.bundle import Bundle

        if isinstance(reference, pd.DataFrame):
            if len(reference) == 0:
                raise DataError("The reference data has no rows; drift needs at least one.")
            return cls(None, reference, sample)
        if isinstance(reference, Bundle):
            profile = reference.drift_reference
            if profile is None:
                raise BundleError(
                    f"The bundle at {reference.path} has no drift reference "
                    "(reference_profile.json has no 'drift'); retrain the model to add one."
                )
            if sample is None:
                sample = reference.reference_sample()
            reference = profile
        if isinstance(reference, dict):
            if reference.get("format") != 1 or not isinstance(reference.get("features"), dict):
                raise DataError(
                    "The reference dict is not a drift reference of format 1 from "
                    "mlcycle.data.build_reference()."
                )
            return cls(reference, None, sample)
        raise bad_parameter(
            "reference",
            "drift()",
            "a DataFrame, a build_reference() dict or a Bundle",
            type(reference),
        )

    def profile_frame(self, prediction: str, target: str | None) -> None:
        """Build the reference dict of the reference DataFrame's features and outputs."""
        from mlcycle.data import build_reference

        frame = self.frame
        assert frame is not None
        outputs = {prediction, COLUMNS.prediction_value, target}
        outputs |= {c for c in frame.columns if class_of(str(c)) is not None}
        feature_columns = [c for c in frame.columns if c not in outputs]
        output = prediction if prediction in frame.columns else None
        label = target if target in frame.columns else None
        classes = None
        if label is not None and _looks_like_classes(frame[label]):
            classes = sorted(frame[label].dropna().unique().tolist(), key=str)
        self.profile = build_reference(
            frame[feature_columns],
            predictions=frame[output] if output else None,
            target=frame[label] if label else None,
            classes=classes,
        )
        if self.sample is None:
            self.sample = frame[feature_columns]

    def exact(self, name: str) -> np.ndarray | None:
        """The sorted finite values of a numeric reference column, when the rows are here."""
        if self.frame is None:
            return None
        values = _floats(self.frame[name], name, "reference")
        return np.sort(values[np.isfinite(values)])


class _Window:
    """The current data, read one column at a time from a DataFrame or a pyarrow Table."""

    def __init__(self, frame: pd.DataFrame | None, table: pa.Table | None) -> None:
        self.frame, self.table = frame, table
        if frame is not None:
            self.columns = [str(c) for c in frame.columns]
            self.rows = len(frame)
        else:
            assert table is not None
            self.columns = list(table.column_names)
            self.rows = table.num_rows

    @classmethod
    def of(cls, current: Any) -> _Window:
        if isinstance(current, pd.DataFrame):
            return cls(current, None)
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            pa = None
        if pa is not None and isinstance(current, pa.Table):
            return cls(None, current)
        raise bad_parameter(
            "current", "drift()", "a pandas DataFrame or a pyarrow Table", type(current)
        )

    def floats(self, name: str) -> np.ndarray:
        if self.frame is not None:
            return _floats(self.frame[name], name, "current")
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self.table.column(name)  # type: ignore[union-attr]
        kind = column.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if pa.types.is_temporal(kind) or pa.types.is_nested(kind):
            raise _not_numeric(name, str(kind))
        try:
            return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _not_numeric(name, str(kind)) from None

    def counts(self, name: str) -> tuple[pd.Series, int]:
        """Counts of the non-missing values by their text, and the number of missing values."""
        if self.frame is not None:
            counts = _text_counts(self.frame[name])
            return counts, self.rows - int(counts.sum())
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self.table.column(name)  # type: ignore[union-attr]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        found = pc.value_counts(column)
        values = pd.Series(
            found.field("counts").to_numpy(zero_copy_only=False).astype(np.int64),
            index=pd.Index(found.field("values").to_pylist(), dtype=object),
        )
        counts = _by_text(values[[not _is_missing(v) for v in values.index]])
        return counts, self.rows - int(counts.sum())

    def sample(self, names: list[str], rows: int, seed: int) -> pd.DataFrame:
        take = np.arange(self.rows)
        if self.rows > rows:
            take = np.sort(np.random.default_rng(seed).choice(self.rows, rows, replace=False))
        if self.frame is not None:
            return self.frame[names].iloc[take].reset_index(drop=True)
        return self.table.select(names).take(take).to_pandas()  # type: ignore[union-attr]


# -- one column -------------------------------------------------------------------------------


def _tested_features(
    ref: _Reference, window: _Window, wanted: list[str] | None, notes: list[str]
) -> list[str]:
    known = list(ref.profile["features"])
    if wanted is not None:
        if isinstance(wanted, str) or not all(isinstance(n, str) for n in wanted):
            raise bad_parameter("features", "drift()", "a list of column names", wanted)
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise DataError(
                f"Unknown feature{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                f"; the reference has: {_listed(known)}."
            )
        known = list(wanted)
    present = [n for n in known if n in window.columns]
    if not present:
        raise DataError(
            "None of the reference's features are in the current data. "
            f"Reference: {_listed(known)}; current: {_listed(window.columns)}."
        )
    absent = [n for n in known if n not in window.columns]
    if absent:
        notes.append(f"Not in the current data, so not tested: {_listed(absent)}.")
    return present


def _test_feature(name: str, ref: _Reference, window: _Window) -> FeatureDrift:
    spec = ref.profile["features"][name]
    if spec["kind"] == "numeric":
        return _numeric(name, spec, window.floats(name), ref.exact(name), missing_test=True)
    counts, missing = window.counts(name)
    return _category(name, spec, counts, missing, window.rows, missing_test=True)


def _numeric(
    name: str,
    spec: dict[str, Any],
    values: np.ndarray,
    exact: np.ndarray | None,
    *,
    missing_test: bool,
) -> FeatureDrift:
    current = np.sort(values[np.isfinite(values)])
    rows = int(values.size)
    result = _with_missing(name, "numeric", spec, rows - current.size, rows)
    n_reference = spec["count"] - spec["missing"]
    p_distribution = None
    if n_reference > 0 and current.size > 0:
        inner = np.asarray(spec["bins"][1:-1], dtype=np.float64)
        reference_counts = np.asarray(spec["counts"], dtype=np.float64)
        positions = np.r_[0, np.searchsorted(current, inner, side="left"), current.size]
        current_counts = np.diff(positions)
        if exact is not None:
            ks, wasserstein = ks_wasserstein_exact(exact, current)
        else:
            grid = np.asarray(spec["quantiles"], dtype=np.float64)
            ks = ks_from_quantiles(grid, current)
            wasserstein = wasserstein_from_quantiles(grid, sorted_quantiles(current, grid.size))
        scale = spec["std"] if spec["std"] else 1.0  # a constant column: in its own units
        result.psi = psi(reference_counts, current_counts)
        result._psi_chance = psi_chance(reference_counts.size, n_reference, current.size)
        result.ks, result.ks_p = ks, ks_pvalue(ks, n_reference, int(current.size))
        result.wasserstein = wasserstein / scale
        result.histogram = {
            "edges": [None, *inner.tolist(), None],
            "reference": shares(reference_counts).tolist(),
            "current": shares(current_counts).tolist(),
        }
        p_distribution = result.ks_p
    result.p_value = _combined(
        p_distribution, _missing_p(spec, result, rows) if missing_test else None
    )
    result._missing_tested = missing_test
    return result


def _category(
    name: str,
    spec: dict[str, Any],
    counts: pd.Series,
    missing: int,
    rows: int,
    *,
    missing_test: bool,
) -> FeatureDrift:
    result = _with_missing(name, "category", spec, missing, rows)
    categories = list(spec["frequencies"])
    reference_cells = np.array([*spec["frequencies"].values(), spec["other"]], dtype=np.float64)
    known = counts.reindex(categories, fill_value=0).to_numpy(dtype=np.float64)
    present = float(counts.sum())
    current_cells = np.r_[known, present - known.sum()]
    n_reference = reference_cells.sum()
    p_distribution = None
    if n_reference > 0 and present > 0:
        result.unseen_share = float(current_cells[-1] / present)
        result._other_share_reference = float(spec["other"] / n_reference)
        result.psi = psi(reference_cells, current_cells)
        cells = int(np.count_nonzero(reference_cells + current_cells))
        result._psi_chance = psi_chance(cells, n_reference, present)
        result.js = js_distance(reference_cells, current_cells)
        result.chi2_p = chi2_homogeneity(reference_cells, current_cells)
        result.histogram = {
            "categories": [*categories, OTHER],
            "reference": shares(reference_cells).tolist(),
            "current": shares(current_cells).tolist(),
        }
        p_distribution = result.chi2_p
    result.p_value = _combined(
        p_distribution, _missing_p(spec, result, rows) if missing_test else None
    )
    result._missing_tested = missing_test
    return result


def _with_missing(
    name: str, kind: str, spec: dict[str, Any], missing: int, rows: int
) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind=kind,
        missing_share_reference=float(spec["missing_share"]),
        missing_share_current=missing / rows if rows else 0.0,
    )


def _missing_p(spec: dict[str, Any], result: FeatureDrift, rows: int) -> float | None:
    missing_current = round(result.missing_share_current * rows)
    if spec["missing"] == 0 and missing_current == 0:
        return None
    return chi2_homogeneity(
        np.array([spec["missing"], spec["count"] - spec["missing"]]),
        np.array([missing_current, rows - missing_current]),
    )


def _combined(*p_values: float | None) -> float | None:
    """One p-value per column: the smallest of its tests, Bonferroni-corrected for their number."""
    found = [p for p in p_values if p is not None and math.isfinite(p)]
    return min(1.0, len(found) * min(found)) if found else None


def _test_output(
    ref: _Reference, window: _Window, name: str | None, role: str, notes: list[str]
) -> FeatureDrift | None:
    """Drift of the prediction or of the target, non-missing values only."""
    spec = ref.profile.get(role)
    if spec is None:
        return None
    if role == "prediction":
        assert name is not None
        candidates = [name]
        if spec["kind"] == "numeric" and "class" in spec:
            candidates = [proba_column(spec["class"])]
        elif spec["kind"] == "numeric":
            candidates = [COLUMNS.prediction_value, name] if name == COLUMNS.prediction else [name]
    else:
        label = COLUMNS.label_value if spec["kind"] == "numeric" else COLUMNS.label
        candidates = [name] if name else [spec.get("name"), label, COLUMNS.label]
    column = next((c for c in candidates if c and c in window.columns), None)
    if column is None and role == "prediction" and "label" in spec and name in window.columns:
        column, spec = name, spec["label"]
    if column is None:
        notes.append(
            f"No {role} column in the current data ({' or '.join(c for c in candidates if c)}): "
            f"{role} drift not tested."
        )
        return None
    # only the values that are there are compared: most predictions never get a label
    if spec["kind"] == "numeric":
        values = window.floats(column)
        present = int(np.isfinite(values).sum())
        result = _numeric(column, spec, values, None, missing_test=False) if present else None
    else:
        counts, missing = window.counts(column)
        present = int(counts.sum())
        result = _category(column, spec, counts, missing, window.rows, missing_test=False)
    if not present:
        notes.append(f"The {role} column '{column}' has no values in the window: not tested.")
        return None
    return result


def _decide(columns: list[FeatureDrift], alpha: float, t: DriftThresholds) -> None:
    """Adjust p-values (Benjamini-Hochberg) and flag the columns that pass an effect size."""
    tested = [c for c in columns if c.p_value is not None]
    for column, adjusted in zip(
        tested, benjamini_hochberg(np.array([c.p_value for c in tested])), strict=True
    ):
        column.p_adjusted = float(adjusted)
    for c in columns:
        effects = []
        if c.psi is not None and c.psi >= t.psi:
            effects.append(f"PSI {c.psi:.3g} >= {t.psi:g}")
        if c.ks is not None and c.ks >= t.ks:
            effects.append(f"KS {c.ks:.3g} >= {t.ks:g}")
        if c.wasserstein is not None and c.wasserstein >= t.wasserstein:
            effects.append(f"Wasserstein {c.wasserstein:.3g} std >= {t.wasserstein:g}")
        if c.js is not None and c.js >= t.js:
            effects.append(f"Jensen-Shannon {c.js:.3g} >= {t.js:g}")
        if c.unseen_share is not None and c.unseen_share - c._other_share_reference >= t.unseen:
            extra = (
                f" ({c._other_share_reference:.3g} in the reference)"
                if c._other_share_reference
                else ""
            )
            effects.append(f"unseen share {c.unseen_share:.3g}{extra} >= {t.unseen:g}")
        change = c.missing_share_current - c.missing_share_reference
        if c._missing_tested and abs(change) >= t.missing:
            effects.append(
                f"missing share {c.missing_share_reference:.3g} -> {c.missing_share_current:.3g}"
            )
        significant = c.p_adjusted is not None and c.p_adjusted < alpha
        if significant and effects:
            c.drifted = True
            c.reasons = [*effects, f"adjusted p {c.p_adjusted:.2g} < {alpha:g}"]
        elif c.psi is not None and c.psi >= t.psi and c._psi_chance <= t.psi / 4:
            c.drifted = True
            c.reasons = effects


# -- multivariate -----------------------------------------------------------------------------


def _domain_drift(
    ref: _Reference,
    window: _Window,
    names: list[str],
    t: DriftThresholds,
    seed: int,
    notes: list[str],
) -> MultivariateDrift | None:
    """Cross-validated ROC-AUC of a classifier told to separate reference from current rows."""
    sample = ref.sample
    if sample is None:
        notes.append(
            "Multivariate drift not tested: the reference has no rows "
            "(give reference_sample= or a bundle with a reference sample)."
        )
        return None
    names = [n for n in names if n in sample.columns]
    if len(sample) < _MIN_DOMAIN_ROWS or window.rows < _MIN_DOMAIN_ROWS or not names:
        notes.append(
            f"Multivariate drift not tested: it needs at least {_MIN_DOMAIN_ROWS} rows "
            "of shared features on each side."
        )
        return None
    rng = np.random.default_rng(seed)
    if len(sample) > DOMAIN_ROWS:
        sample = sample.iloc[np.sort(rng.choice(len(sample), DOMAIN_ROWS, replace=False))]
    left = sample[names].reset_index(drop=True)
    right = window.sample(names, DOMAIN_ROWS, seed)
    kinds = [ref.profile["features"][n]["kind"] for n in names]
    X = _encode(left, right, names, kinds)
    y = np.r_[np.zeros(len(left)), np.ones(len(right))]
    categorical = np.array([k == "category" for k in kinds])
    auc, importance = domain_auc(X, y, categorical, seed=seed, importance_above=t.auc)
    top: list[tuple[str, float]] = []
    if importance is not None:
        ranked = np.argsort(-importance, kind="stable")[:TOP_FEATURES]
        top = [(names[i], float(importance[i])) for i in ranked if importance[i] > 0]
    drifted = auc >= t.auc
    return MultivariateDrift(auc, drifted, top, len(left), len(right))


def _encode(
    left: pd.DataFrame, right: pd.DataFrame, names: list[str], kinds: list[str]
) -> np.ndarray:
    """Both sides as one float matrix: numbers as they are, categories as shared codes."""
    X = np.empty((len(left) + len(right), len(names)))
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        both = pd.concat([left[name], right[name]], ignore_index=True)
        if kind == "numeric":
            X[:, j] = _floats(both, name, "current")
            continue
        found, uniques = pd.factorize(both, use_na_sentinel=True)
        texts = np.array([category_text(v) for v in uniques] + [""], dtype=object)[found]
        missing = found < 0
        frequent = pd.Series(texts[~missing]).value_counts().index[:_MAX_CODES]
        codes = pd.Categorical(texts, categories=frequent).codes.astype(np.float64)
        codes[codes < 0] = _MAX_CODES  # the rarest values share one code
        codes[missing] = np.nan
        X[:, j] = codes
    return X


# -- values -----------------------------------------------------------------------------------


def _text_counts(series: pd.Series) -> pd.Series:
    counts = series.value_counts(dropna=True, sort=False)
    return _by_text(counts[counts > 0])


def _by_text(counts: pd.Series) -> pd.Series:
    if counts.empty:
        return pd.Series([], dtype=np.int64)
    texts = [category_text(v) for v in counts.index]
    return pd.Series(counts.to_numpy(dtype=np.int64), index=texts).groupby(level=0).sum()


def _looks_like_classes(series: pd.Series) -> bool:
    """A target of labels: not numbers, or whole numbers with at most 20 distinct values."""
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return True
    values = series.dropna().to_numpy(dtype=np.float64)
    return bool(np.all(values == np.round(values))) and np.unique(values).size <= 20


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _floats(series: pd.Series, name: str, side: str) -> np.ndarray:
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise _not_numeric(name, str(dtype), side)
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        values = pd.to_numeric(series, errors="coerce")
        if (values.isna() & series.notna()).any():
            raise _not_numeric(name, str(dtype), side) from None
        return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _not_numeric(name: str, dtype: str, side: str = "current") -> DataError:
    return DataError(
        f"Column '{name}' is numeric in the reference but not in the {side} data "
        f"(type {dtype}); give it numbers, or rebuild the reference with it as a category."
    )


def _listed(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") or "(none)"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value
