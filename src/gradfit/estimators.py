"""GDRegressor: the scikit-learn face of the core (a thin shell over ``gradfit.fit``)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from gradfit.data.sparse import check_sparse, is_sparse
from gradfit.data.validation import check_finite, describe_non_numeric
from gradfit.fitting.api import FitParams, fit

__all__ = ["GDRegressor"]

SPARSE = ["csr", "csc"]  # scipy.sparse formats fit and predict take (others become CSR)
STORE_STATS_LIMIT = 200_000  # n x d up to which fit keeps the statistics summary() needs


class GDRegressor(RegressorMixin, BaseEstimator):
    """Linear regression fitted by gradient descent (or exactly), scikit-learn style.

    Minimises

        F(w, b) = sum_i s_i loss(y_i - x_i.w - b) / sum_i s_i  +  alpha * R(w)

    with loss "squared" (r^2) or "huber" (r^2 inside epsilon, 2 eps|r| - eps^2 outside) and
    R = 0, 1/2||w||^2 ("l2"), ||w||_1 ("l1") or l1_ratio||w||_1 + (1-l1_ratio)/2||w||^2
    ("elasticnet").  The intercept is never penalized.  Matching scikit-learn (unit weights,
    n rows):  Ridge(a) is alpha = 2a/n with penalty="l2";  Lasso(a) is alpha = 2a with
    penalty="l1";  ElasticNet(a, l1_ratio=r) is alpha = 2a, l1_ratio=r.

    Parameters
    ----------
    solver : {"gd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lbfgs", "cg", \
"cd", "exact"}, default "nesterov"
        "gd" is plain (proximal) gradient descent, the textbook loop.  "nesterov", the
        default, is accelerated gradient descent — FISTA with adaptive restart on full batches
        (constant momentum on mini-batches): it needs about sqrt(kappa) instead of kappa
        passes on a problem of condition number kappa, and reaches the same optimum;
        "lbfgs" is scipy's L-BFGS-B; "cg" is conjugate gradients on the normal equations;
        "cd" solves L1 / elastic net on in-memory data by working sets with gap-safe
        screening and coordinate-descent epochs (what "nesterov" runs for them there, with
        full batches and the automatic rate); "exact" the closed-form least-squares/ridge
        solution (long double input is used to the full).
    learning_rate : float, "auto" or "backtracking", default "auto"
        "auto": 1/L with L the Lipschitz constant of the gradient (power iteration); on
        mini-batches 1/L(B), the expected smoothness of a batch of size B.  "backtracking":
        Armijo line search.  A number is a fixed step in your units (with the default
        standardize="auto" the descent then runs on the raw features, as a hand-written
        loop does); with standardize=True it is a step in standardized coordinates.
    schedule : {"auto", "constant", "inverse_scaling", "step", "cosine"}, default "auto"
        "auto" is constant on full batches and inverse_scaling on mini-batches.
    batch_size : int or None, default None
        None: full batch.  An integer: shuffled mini-batches (1 is classic SGD).
    momentum : float, default 0.9
        beta of heavy-ball momentum (and of Nesterov on mini-batches).
    max_iter : int, default 1000
        Epochs (passes over the data).
    tol : float or "auto", default "auto"
        Full batch: stop when the (proximal) gradient norm falls below tol x its initial
        value; "auto": when the optimality certificate (the distance to the optimum from the
        curvature, for up to 256 features) puts the coefficients within 1e-10 of the exact
        optimum, polished until progress stops, else at a relative gradient of 1e-12.  A fit
        that stalls at the rounding floor returns its best iterate and reports converged_
        False unless the criterion was met.  Mini-batch and early stopping: stop when the
        objective (held-out loss) improves by less than tol x its best value for
        n_iter_no_change epochs ("auto": 1e-4).  cg: residual norm; lbfgs: max-norm of the
        gradient, both relative to the start; cd (and L1 in memory): the duality gap relative
        to the objective.  ``certificate_`` says how many digits the
        result has.
    loss : {"squared", "huber"}; epsilon : float, default 1.35 (Huber's threshold)
    penalty : {None, "l2", "l1", "elasticnet"}; alpha : float; l1_ratio : float, default 0.15
    fit_intercept : bool, default True
    standardize : "auto", True, False or "whiten", default "auto"
        The coordinates the descent runs in; the solution (penalties included) is the same
        in all of them, only the path (and its speed) differs.  Coefficients are always in
        original units.  True: centred, unit-variance features.  "whiten": features
        decorrelated by the Cholesky factor of their Gram matrix (full batches, smooth
        penalty): the squared loss's condition number becomes 1, so collinear data converge
        in a few steps.  False: your units.  "auto": whitened for full-batch fits with a
        smooth penalty and at most 256 features, standardized otherwise, and your units when
        ``learning_rate`` is a number.
    early_stopping, validation_fraction, n_iter_no_change
        Hold out a fraction of rows and stop when their loss stops improving (the best
        parameters are kept).
    average : bool or None, default None
        Polyak-Ruppert averaging of the iterates (from the second epoch on).  None: on for
        mini-batches, where it removes the noise floor of a constant-ish step, off for full
        batches.
    warm_start : bool, default False
        Start from the previous fit's coefficients.
    random_state : int, RandomState or None
        Seeds shuffling and the validation split: the same seed gives bit-identical fits.
    verbose : int, default 0
        1 prints one line per epoch to stderr (the CLI draws a progress bar instead).

    Attributes
    ----------
    coef_ : ndarray (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray (n_targets,)
    n_iter_, converged_, stop_reason_, objective_, history_, result_, learning_rate_
    certificate_ : dict
        The optimality certificate: ``digits`` (significant digits of the coefficients it
        supports, or None), ``coef_rel_error``, ``grad_norm_rel`` ... (see
        ``gradfit.solvers.certificate``).
    n_features_in_, feature_names_in_
    """

    def __init__(self, solver="nesterov", learning_rate="auto", schedule="auto", batch_size=None,
                 momentum=0.9, max_iter=1000, tol="auto", loss="squared", epsilon=1.35,
                 penalty=None, alpha=0.0, l1_ratio=0.15, fit_intercept=True, standardize="auto",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 average=None, warm_start=False, random_state=None, verbose=0):
        self.solver = solver
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.batch_size = batch_size
        self.momentum = momentum
        self.max_iter = max_iter
        self.tol = tol
        self.loss = loss
        self.epsilon = epsilon
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.average = average
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def from_result(cls, result, *, feature_names=None, **params):
        """A fitted estimator carrying ``result`` (a :class:`gradfit.FitResult`, e.g. from
        ``gradfit.fit_files``), with the given parameters: for ``predict``, ``score`` and
        ``gradfit.io.save_model``.

        Parameters
        ----------
        result : FitResult
        feature_names : sequence of str, optional
            The features' names (``feature_names_in_``).
        **params
            GDRegressor's parameters (those the fit used).

        Returns
        -------
        GDRegressor
        """
        est = cls(**params)._from_result(result)
        est.n_features_in_ = np.shape(result.coef)[0]
        if feature_names is not None:
            est.feature_names_in_ = np.asarray(list(feature_names), dtype=object)
        return est

    def _from_result(self, res):
        """Set the fitted attributes from a FitResult (every source goes through here)."""
        coef = np.asarray(res.coef)
        self.coef_ = coef.T if coef.ndim == 2 else coef
        self.intercept_ = res.intercept
        self.n_iter_ = res.n_iter
        self.converged_ = res.converged
        self.stop_reason_ = res.stop_reason
        self.objective_ = res.objective
        self.history_ = res.history
        self.learning_rate_ = res.learning_rate
        self.certificate_ = res.certificate
        self.result_ = res
        self._inference_stats = self._training = None  # statistics of other data are stale
        self._target_name = None
        return self

    def _fit_params(self) -> dict:
        names = FitParams.__dataclass_fields__
        return {k: v for k, v in self.get_params().items() if k in names}

    def fit(self, X, y, sample_weight=None, *, coef_init=None, intercept_init=None,
            callback=None):
        """Fit the model; returns self.  See the class docstring for the objective.

        X may also be a dask array or dataframe (then y a dask array/series, or the name of
        the target column): the fit runs on the cluster (``gradfit[dask]``)."""
        self.__dict__.pop("_partial", None)
        self.__dict__.pop("design_", None)
        if _is_dask(X):
            return self._fit_dask(X, y, sample_weight, callback=callback)
        describe_non_numeric(X)
        target_name, y_in = _series_name(y), y
        dtypes = [np.float64, np.float32] + ([np.longdouble] if self.solver == "exact" else [])
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=dtypes, ensure_all_finite=False, accept_sparse=SPARSE,
                             order="C" if self.batch_size else None)
        names = list(getattr(self, "feature_names_in_", [])) or None
        sparse = is_sparse(X)  # CSR/CSC: fitted as CSR rows (gradfit.data.sparse)
        if not sparse:
            check_finite(X, "X", names)
        if self.warm_start and hasattr(self, "coef_") and coef_init is None:
            coef_init = np.asarray(self.coef_, float)
            coef_init = coef_init.T if coef_init.ndim == 2 else coef_init
            intercept_init = self.intercept_
        if self.verbose and callback is None:
            callback = _print_progress
        res = fit(X, y, sample_weight, callback=callback, coef_init=coef_init,
                  intercept_init=intercept_init, feature_names=names, **self._fit_params())
        self._from_result(res)  # summary() computes its statistics from _training on first use
        self._target_name = target_name
        if not sparse and np.ndim(y) == 1 and X.shape[0] * X.shape[1] <= STORE_STATS_LIMIT:
            self._training = (np.array(X), np.array(y, dtype=float),
                              None if sample_weight is None else np.array(sample_weight),
                              getattr(y_in, "index", None))
        return self

    def fit_formula(self, formula, data, sample_weight=None, *, drop_missing=False,
                    callback=None):
        """Fit the model of a formula on a DataFrame; returns self.

        ``formula`` is formulaic's (R's, statsmodels'): ``"y ~ x1 + C(region) + np.log(x2)"``.
        The design matrix :math:`X` is built by formulaic with treatment coding (the first
        level of a categorical column is the reference, a column ``C(region)[T.b]`` for every
        other one), then :math:`y = X w + b` is fitted as :meth:`fit` does.  The formula's
        intercept term is ``fit_intercept``: ``"y ~ x - 1"`` (or ``+ 0``) fits without one.
        ``design_`` keeps the design (columns, levels, transforms), so :meth:`predict` on a
        DataFrame rebuilds the same columns and ``gradfit.io.save_model`` stores it.

        Parameters
        ----------
        formula : str
        data : pandas.DataFrame
        sample_weight : array-like of shape (n,), optional
        drop_missing : bool, default False
            Drop rows with a missing value in a column the formula reads (formulaic drops
            them silently; gradfit refuses them unless asked).
        callback : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self
        """
        from gradfit.data.design import DesignSpec

        design = DesignSpec.from_frame(data, formula, drop_missing=drop_missing)
        X, y, kept = design.transform(data, drop_missing=drop_missing)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)[kept]
        self.fit_intercept = design.fit_intercept(self.fit_intercept)
        self.fit(X, y, sample_weight, callback=callback)
        self.feature_names_in_ = np.asarray(design.names, dtype=object)
        self.design_ = design
        return self

    @available_if(lambda self: _incremental(self.solver))
    def partial_fit(self, X, y, sample_weight=None):
        """One pass of updates over the chunk (X, y) — one epoch of the loop on it.

        The first call fixes the standardization, the starting point and the base step from
        its chunk; later calls continue the schedule, the optimizer's state and the
        averaging.  Called E times on the same data it gives, bit for bit, the coefficients
        of E epochs of ``fit``.  See ``gradfit.fitting.partial`` for the exact semantics.
        """
        from gradfit.fitting.partial import partial_fit_step

        first = not hasattr(self, "_partial")
        describe_non_numeric(X)
        X, y = validate_data(self, X, y, reset=first, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32], ensure_all_finite=False)
        check_finite(X, "X", list(getattr(self, "feature_names_in_", [])) or None)
        self._partial = partial_fit_step(None if first else self._partial, X, y, sample_weight,
                                         self._fit_params())
        coef = np.asarray(self._partial.coef)
        self.coef_ = coef.T if coef.ndim == 2 else coef
        self.intercept_ = self._partial.intercept
        self.n_iter_ = self._partial.n_calls
        self.converged_ = False
        self.stop_reason_ = f"partial_fit: {self._partial.n_calls} call(s) so far"
        return self

    def _fit_dask(self, X, y, sample_weight, callback=None):
        try:
            from gradfit.fitting.dask import fit_dask
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError("dask input needs the extra: pip install 'gradfit[dask]'") from exc
        res = fit_dask(X, y, sample_weight, callback=callback, **self._fit_params())
        self._from_result(res)
        self.n_features_in_ = np.shape(res.coef)[0]
        names = res.info.get("feature_names")
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        return self

    # ------------------------------------------------------------------ inference
    def _stats_for(self, X, y, sample_weight, leverage):
        from gradfit.stats.sufficient import InferenceStats

        return InferenceStats.from_arrays(
            np.asarray(X), np.asarray(y, float), self.coef_,
            self.intercept_ if self.fit_intercept else 0.0, sample_weight=sample_weight,
            fit_intercept=self.fit_intercept, leverage=leverage)

    def _penalized_reason(self):
        if self.penalty not in (None, "none") and self.alpha > 0:
            return (f"penalty={self.penalty!r} with alpha={self.alpha:g}: the estimates are "
                    "shrunk, so classical standard errors, t and p-values would mislead")
        return None

    def _summary_kwargs(self) -> dict:
        """What the results need to know of the fit: its loss and penalty, and the digits its
        certificate supports (the table shows no more)."""
        from gradfit.solvers.certificate import parameter_digits

        digits = parameter_digits(getattr(self, "certificate_", None), np.size(self.coef_),
                                  self.fit_intercept)
        return {"penalized_reason": self._penalized_reason(), "loss": self.loss,
                "epsilon": self.epsilon, "digits": digits}

    def summary(self, X=None, y=None, sample_weight=None, *, cov_type="nonrobust", alpha=0.05,
                feature_names=None, target_name=None, cov_kwds=None):
        """Results like statsmodels' (:class:`gradfit.stats.results.RegressionResults`):
        ``print(model.summary())``, ``.params``, ``.bse``, ``.pvalues``, ``.conf_int()``,
        ``.rsquared``, ``.resid`` ..., computed at the fitted parameters.

        For small training sets (n x d <= 2e5) the sufficient statistics and the rows are
        kept from ``fit``; otherwise pass the training data again:
        ``summary(X, y, sample_weight)``.  cov_type: "nonrobust", "HC0", "HC1", "HC2",
        "HC3", "HAC" (``cov_kwds={"maxlags": L}``) or "cluster" (``cov_kwds={"groups":
        labels}``), as statsmodels' ``fit(cov_type=, cov_kwds=)``; alpha: 1 - interval
        level; feature_names / target_name label the table (default: the fitted
        DataFrame's columns and the name of the fitted y Series).
        A Huber fit is titled Huber and judged against the Huber optimum.
        """
        from gradfit.stats.results import summary_from_stats

        check_is_fitted(self, "coef_")
        if np.ndim(self.coef_) != 1:
            raise ValueError("summary() covers single-output fits; fit one target at a time")
        data = None
        if X is not None:
            X = self._design_of(X)
            describe_non_numeric(X)
            if y is None:
                raise ValueError("summary(X, y): pass y together with X")
            target_name = target_name or _series_name(y)
            index = getattr(y, "index", getattr(X, "index", None))
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
            stats = self._stats_for(X, y, sample_weight,
                                    leverage=str(cov_type).upper() in ("HC2", "HC3"))
            data = (X, np.asarray(y, float), sample_weight, index)
        elif getattr(self, "_training", None) is not None:
            if getattr(self, "_inference_stats", None) is None:
                self._inference_stats = self._stats_for(*self._training[:3], leverage=True)
            stats, data = self._inference_stats, self._training
        elif getattr(self, "_inference_stats", None) is not None:
            stats = self._inference_stats
        else:
            raise ValueError("the training set was too large to keep its statistics: pass it "
                             "again, model.summary(X, y, sample_weight)")
        names = feature_names or [str(c) for c in getattr(self, "feature_names_in_", [])] or None
        design = getattr(self, "design_", None)
        target = target_name or getattr(self, "_target_name", None) or (
            design.target if design is not None else None) or "y"
        return summary_from_stats(stats, cov_type=cov_type, alpha=alpha, feature_names=names,
                                  target_name=target, data=data, cov_kwds=cov_kwds,
                                  **self._summary_kwargs())

    def predict_interval(self, X, *, alpha=0.05, cov_type="nonrobust"):
        """Confidence intervals of the mean and prediction intervals of new observations
        (a DataFrame like statsmodels' ``get_prediction(X).summary_frame(alpha)``)."""
        from gradfit.stats.intervals import prediction_intervals

        return prediction_intervals(self.summary(cov_type=cov_type, alpha=alpha),
                                    self._design_of(X), alpha=alpha)

    def predict(self, X, return_std=False):
        """X @ coef_ + intercept_; with return_std, also the standard error of each predicted
        mean (from the summary's covariance; see predict_interval for intervals)."""
        if return_std:
            frame = self.predict_interval(X)
            return frame["mean"].to_numpy(), frame["mean_se"].to_numpy()
        check_is_fitted(self, "coef_")
        X = self._design_of(X)
        describe_non_numeric(X)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32],
                          ensure_all_finite=False, accept_sparse=SPARSE)
        names = list(getattr(self, "feature_names_in_", [])) or None
        if is_sparse(X):
            X = check_sparse(X, names)
            return np.asarray(X @ np.asarray(self.coef_).T) + self.intercept_
        check_finite(X, "X", names)
        return X @ np.asarray(self.coef_).T + self.intercept_

    def _design_of(self, X):
        """A DataFrame given to a formula-fitted model: its design (the fitted columns,
        levels and transforms), as a DataFrame of the design's column names."""
        design = getattr(self, "design_", None)
        if design is None or not hasattr(X, "columns"):
            return X
        import pandas as pd

        matrix, _, _ = design.transform(X, target=False)
        return pd.DataFrame(matrix, columns=list(design.names))

    @property
    def plot(self):
        """Charts of this fit, e.g. ``model.plot.fitted_line(X, y)``, ``.loss_curve()``,
        ``.descent_path(X, y)``, ``.residuals(X, y)``, ``.explore(X, y)`` (see
        :mod:`gradfit.plot`)."""
        from gradfit.plot import ModelPlots

        return ModelPlots(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        return tags


def _incremental(solver) -> bool:
    from gradfit.solvers.registry import SOLVERS

    spec = SOLVERS.get(solver)
    return spec is not None and spec.incremental


def _series_name(y):
    """The name of a named pandas Series (None for arrays)."""
    from gradfit.stats.results import series_name

    return series_name(y)


def _is_dask(X) -> bool:
    """A dask collection, recognised without importing dask."""
    return type(X).__module__.split(".")[0] == "dask"


def _print_progress(info):
    import sys

    print(f"epoch {info['epoch']:>6}  objective {info['objective']:.10g}  "
          f"lr {info['lr']:.4g}  {info['elapsed']:.2f}s", file=sys.stderr)
