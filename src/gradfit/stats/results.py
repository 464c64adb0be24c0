"""The results of inference for one fitted linear model: :class:`RegressionResults` (the 0.1
name :class:`Summary` still works), built by
:func:`summarize` (in-memory data) or :func:`summary_from_stats` (merged statistics)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats as sst

from gradfit.stats.covariance import (
    COV_DESCRIPTIONS,
    SCORE_COV_TYPES,
    check_cov_type,
    cov_factor,
    robust_f_test,
)
from gradfit.stats.diagnostics import residual_diagnostics
from gradfit.stats.geometry import Geometry, theta
from gradfit.stats.optimality import Optimality, huber_optimality, optimality
from gradfit.stats.render import render_html, render_text, resolution, title
from gradfit.stats.robust import (
    ROBUST_DESCRIPTIONS,
    ClusterScores,
    HACScores,
    robust_factor,
    robust_scores,
)
from gradfit.stats.sufficient import InferenceStats, as_coef, check_block

__all__ = ["COEF_COLUMNS", "RegressionResults", "Summary", "summarize", "summary_from_stats"]

COEF_COLUMNS = ["coef", "std_err", "t", "p_value", "ci_low", "ci_high"]
_UNCENTERED_NOTE = ("R² is computed without centering (uncentered) since the model does "
                    "not contain a constant: R² = 1 - RSS / Σ s y², and the regression SS is "
                    "Σ s ŷ² at the optimum.")


def _finite_float(x) -> float | None:
    """``float(x)`` for JSON, with NaN and infinities as ``None``."""
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(eq=False)
class RegressionResults:
    r"""Inference for one fitted linear model, like statsmodels' ``RegressionResults``.

    Built by :func:`summary_from_stats` / :func:`summarize` (and ``GDRegressor.summary()``);
    ``str(res)`` is the text summary, ``res._repr_html_()`` an HTML table for notebooks.
    Every statistic is a lazy attribute (computed on first use) named as in statsmodels:
    ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``, ``rsquared``,
    ``rsquared_adj``, ``fvalue``, ``f_pvalue``, ``llf``, ``aic``, ``bic``, ``nobs``,
    ``df_model``, ``df_resid``, ``ssr``, ``ess``, ``scale``, ``cov_params()``, and, when the
    data were given, ``resid``, ``fittedvalues``, ``wresid``.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        Index ``["intercept", *feature_names]`` (no intercept row without one); columns
        ``coef, std_err, t, p_value, ci_low, ci_high``.  ``t`` holds z statistics when
        ``model["use_t"]`` is False (the robust default, as in statsmodels).
    model : dict
        Model-level numbers (see :func:`summary_from_stats` for the list and formulas).
    warnings : list of str
    notes : list of str
        The covariance description followed by the warnings (the text's "Notes").
    cov : pandas.DataFrame or None
        Covariance of the parameters (None when no inference is given: penalized or Huber
        fits); :meth:`cov_params` returns it.
    optimum : dict
        ``coef`` and ``intercept`` of the exact optimum of the fit's objective (least squares,
        or Huber for ``loss="huber"``), from the statistics or the data.
    target_name : str
        The dependent variable's name (a named pandas Series gives its name).
    alpha : float
        1 - the level of the intervals in the table.
    stats : InferenceStats or None
        The sufficient statistics the numbers come from.
    data : tuple or None
        ``(X, y, sample_weight, row_index)`` when the rows were given (for ``resid``).
    digits : pandas.Series or None
        The significant digits of each parameter that the fit's optimality certificate
        supports (NaN: not bounded); the text and HTML show no digit beyond them.  None when
        the parameters came without a certificate (:func:`summarize` of given values).
    """

    coefficients: pd.DataFrame
    model: dict
    warnings: list
    notes: list
    cov: pd.DataFrame | None
    optimum: dict
    target_name: str = "y"
    alpha: float = 0.05
    _cov_factor: np.ndarray | None = field(default=None, repr=False)
    stats: InferenceStats | None = field(default=None, repr=False)
    data: tuple | None = field(default=None, repr=False)
    digits: pd.Series | None = field(default=None, repr=False)

    # -- presentation -----------------------------------------------------------------------

    def __str__(self) -> str:
        return render_text(self)

    def __repr__(self) -> str:
        return (f"<RegressionResults: {title(self)}, {self.target_name} ~ "
                f"{len(self.coefficients)} parameters, n={self.model['n']}, "
                f"cov_type={self.model['cov_type']}>")

    def as_text(self) -> str:
        """The text summary (statsmodels' ``summary().as_text()``)."""
        return render_text(self)

    def as_html(self) -> str:
        """The summary as HTML ``<table>`` elements: model numbers, one row per parameter,
        residual diagnostics, optimality, then the notes."""
        return render_html(self)

    def _repr_html_(self) -> str:
        return render_html(self)

    def to_frame(self) -> pd.DataFrame:
        """The parameter table as statsmodels' ``summary2().tables[1]``: columns
        ``Coef., Std.Err., t (or z), P>|t| (or P>|z|), [alpha/2, 1-alpha/2]``."""
        stat = "t" if self.use_t else "z"
        t = self.coefficients
        lo, hi = f"[{self.alpha / 2:g}", f"{1 - self.alpha / 2:g}]"
        return pd.DataFrame({"Coef.": t["coef"], "Std.Err.": t["std_err"], stat: t["t"],
                             f"P>|{stat}|": t["p_value"], lo: t["ci_low"], hi: t["ci_high"]},
                            index=t.index)

    # -- parameters and their inference -------------------------------------------------------

    @property
    def use_t(self) -> bool:
        """Whether tests and intervals use the t (else the normal) distribution."""
        return bool(self.model.get("use_t", True))

    @property
    def cov_type(self) -> str:
        return str(self.model["cov_type"])

    @cached_property
    def params(self) -> pd.Series:
        """The fitted parameters (intercept first)."""
        return self.coefficients["coef"].rename(None)

    @cached_property
    def bse(self) -> pd.Series:
        r"""Standard errors :math:`\sqrt{V_{jj}}`."""
        return self.coefficients["std_err"].rename(None)

    @cached_property
    def tvalues(self) -> pd.Series:
        r""":math:`\hat\theta_j / \mathrm{se}_j` (z statistics when ``use_t`` is False)."""
        return self.coefficients["t"].rename(None)

    @cached_property
    def pvalues(self) -> pd.Series:
        r"""Two-sided p-values :math:`2\,P(T > |t_j|)`, T ~ t(df_resid) or N(0, 1)."""
        return self.coefficients["p_value"].rename(None)

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        r"""Confidence intervals :math:`\hat\theta_j \pm c_{1-\alpha/2}\,\mathrm{se}_j`
        with :math:`c` the t(df_resid) or normal quantile; columns 0 and 1 as statsmodels.

        Parameters
        ----------
        alpha : float, optional
            Default: the results' ``alpha`` (0.05).
        """
        alpha = self.alpha if alpha is None else float(alpha)
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1); got {alpha}")
        crit = self._crit(alpha)
        p, se = self.params.to_numpy(), self.bse.to_numpy()
        return pd.DataFrame({0: p - crit * se, 1: p + crit * se}, index=self.params.index)

    def _crit(self, alpha: float) -> float:
        if self.use_t:
            return float(sst.t.ppf(1 - alpha / 2, self.df_resid_inference))
        return float(sst.norm.ppf(1 - alpha / 2))

    @property
    def df_resid_inference(self) -> float:
        """Degrees of freedom of the t tests (``df_resid``; G - 1 for cluster covariances)."""
        return float(self.model.get("df_resid_inference", self.model["df_resid"]))

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the parameters (of the results' ``cov_type``)."""
        if self.cov is None:
            raise ValueError(f"no covariance: {self.model.get('penalized_reason', 'no inference')}")
        return self.cov

    def get_robustcov_results(self, cov_type="HC1", use_t=None, **kwds) -> RegressionResults:
        """These results with another covariance (statsmodels' method of the same name):
        ``cov_type`` as :func:`summary_from_stats`, ``kwds`` its ``cov_kwds`` (``maxlags``,
        ``groups``, ``use_correction``, ``df_correction``)."""
        if self.stats is None or self.cov is None:
            raise ValueError("no covariance for these results: "
                             f"{self.model.get('penalized_reason', 'no statistics')}")
        names = [str(i) for i in self.params.index if i != "intercept" or
                 not self.stats.fit_intercept]
        stats = self.stats
        if check_cov_type(cov_type) in ("HC2", "HC3") and "HC2" not in stats.meat:
            if self.data is None:
                raise ValueError(f"{cov_type} needs the rows again for the leverages")
            X, y, s, _ = self.data
            stats = stats.with_leverage([(X, y, s)])
        return summary_from_stats(stats, feature_names=names, target_name=self.target_name,
                                  cov_type=cov_type, alpha=self.alpha, use_t=use_t,
                                  data=self.data, cov_kwds=kwds,
                                  digits=None if self.digits is None else self.digits.to_numpy())

    # -- tests ------------------------------------------------------------------------------

    def t_test(self, r_matrix):
        r"""t (z) tests of each linear restriction :math:`R_j\theta = q_j`
        (:func:`gradfit.stats.contrasts.t_test`): ``r_matrix`` a string such as
        ``"x1 = x2, x3 = 0"``, a matrix R (q = 0) or a pair (R, q)."""
        from gradfit.stats.contrasts import t_test

        return t_test(self, r_matrix)

    def f_test(self, r_matrix):
        r"""Joint F test of :math:`R\theta = q` (:func:`gradfit.stats.contrasts.f_test`)."""
        from gradfit.stats.contrasts import f_test

        return f_test(self, r_matrix)

    def wald_test(self, r_matrix, use_f=None):
        r"""Wald test of :math:`R\theta = q`, F or :math:`\chi^2`
        (:func:`gradfit.stats.contrasts.wald_test`)."""
        from gradfit.stats.contrasts import wald_test

        return wald_test(self, r_matrix, use_f=use_f)

    def compare_f_test(self, restricted):
        """F test of a nested ``restricted`` model against these results: (F, p, df_diff)."""
        from gradfit.stats.contrasts import compare_f_test

        return compare_f_test(self, restricted)

    def compare_lr_test(self, restricted):
        """Likelihood-ratio test of a nested ``restricted`` model: (LR, p, df_diff)."""
        from gradfit.stats.contrasts import compare_lr_test

        return compare_lr_test(self, restricted)

    def get_influence(self):
        """Leverage, studentized residuals, Cook's distance and DFFITS of every row
        (:func:`gradfit.stats.influence.influence`; needs the rows: for files or Dask call
        ``influence(results.stats, backend)``)."""
        from gradfit.stats.influence import influence

        if self.stats is None or self.cov is None:
            raise ValueError("influence measures are for least-squares fits: "
                             f"{self.model.get('penalized_reason', 'no statistics')}")
        X, y, s, _ = self._rows()
        return influence(self.stats, (X, y, s))

    def anova(self, typ=1):
        """ANOVA table, as statsmodels' ``anova_lm(results, typ=1 | 2)`` with one term per
        feature (:func:`gradfit.stats.anova.anova_table`)."""
        from gradfit.stats.anova import anova_table

        return anova_table(self, typ=typ)

    # -- model-level numbers (statsmodels' names) ---------------------------------------------

    nobs = property(lambda self: float(self.model["n"]), doc="Rows with positive weight.")
    df_model = property(lambda self: self.model["df_model"], doc=":math:`q - k_c`.")
    df_resid = property(lambda self: self.model["df_resid"], doc=":math:`n - q`.")
    rsquared = property(lambda self: self.model["r_squared"], doc="R² (see summary_from_stats)")
    rsquared_adj = property(lambda self: self.model["adj_r_squared"], doc="Adjusted R².")
    fvalue = property(lambda self: self.model["f_statistic"], doc="Overall F statistic.")
    f_pvalue = property(lambda self: self.model["f_pvalue"], doc="p-value of the F test.")
    llf = property(lambda self: self.model["log_likelihood"], doc="Gaussian log-likelihood.")
    aic = property(lambda self: self.model["aic"], doc=r":math:`-2\ell + 2q`.")
    bic = property(lambda self: self.model["bic"], doc=r":math:`-2\ell + q \log n`.")
    ssr = property(lambda self: self.model["ssr"], doc=r":math:`\sum s_i e_i^2`.")
    ess = property(lambda self: self.model["ess"], doc="Explained sum of squares.")
    centered_tss = property(lambda self: self.model["centered_tss"], doc="Centred TSS.")
    uncentered_tss = property(lambda self: self.model["uncentered_tss"], doc="Uncentred TSS.")
    mse_resid = property(lambda self: self.model["mse_resid"], doc="SSR / df_resid.")
    mse_model = property(lambda self: self.model["mse_model"], doc="ESS / df_model.")
    mse_total = property(lambda self: self.model["mse_total"], doc="TSS / (n - k_c).")
    scale = property(lambda self: self.model["mse_resid"], doc=r":math:`\hat\sigma^2`.")
    condition_number = property(lambda self: self.model["condition_number"],
                                doc="Condition number of the weighted design.")

    # -- per-row numbers (need the data) ------------------------------------------------------

    def _rows(self):
        if self.data is None:
            raise ValueError("residuals need the rows: build the results with the data "
                             "(summarize(X, y, ...) or model.summary(X, y))")
        return self.data

    def _series(self, values, name):
        index = self._rows()[3]
        return pd.Series(np.asarray(values, float), index=index, name=name)

    @cached_property
    def fittedvalues(self) -> pd.Series:
        r""":math:`\hat y_i = x_i^\top w + b` for every row (zero-weight rows included)."""
        X, _, _, _ = self._rows()
        icp = self.params["intercept"] if "intercept" in self.params.index else 0.0
        w = self.params.drop("intercept", errors="ignore").to_numpy()
        return self._series(np.asarray(X, float) @ w + icp, None)

    @cached_property
    def resid(self) -> pd.Series:
        r"""Residuals :math:`e_i = y_i - \hat y_i`."""
        y = np.asarray(self._rows()[1], float).ravel()
        return self._series(y - self.fittedvalues.to_numpy(), None)

    @cached_property
    def wresid(self) -> pd.Series:
        r"""Whitened residuals :math:`\sqrt{s_i}\,e_i` (``resid`` without weights)."""
        s = self._rows()[2]
        e = self.resid.to_numpy()
        return self._series(e if s is None else np.sqrt(np.asarray(s, float)) * e, None)

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready dict; NaN and infinities become ``None``."""
        coefs = []
        for name, row in self.coefficients.iterrows():
            coefs.append({"name": str(name), **{c: _finite_float(row[c]) for c in COEF_COLUMNS}})
        model = {k: (_finite_float(v) if isinstance(v, (float, np.floating)) else
                     int(v) if isinstance(v, (np.integer,)) else v)
                 for k, v in self.model.items()}
        cov = None
        if self.cov is not None:
            cov = [[_finite_float(v) for v in row] for row in self.cov.to_numpy()]
        out = {"target_name": self.target_name, "alpha": self.alpha, "coefficients": coefs,
               "model": model, "warnings": list(self.warnings), "notes": list(self.notes),
               "cov_params": cov,
               "optimum": {"coef": [_finite_float(v) for v in self.optimum["coef"]],
                           "intercept": _finite_float(self.optimum["intercept"])}}
        json.dumps(out)  # guarantee JSON-readiness
        return out


#: the 0.1 name of :class:`RegressionResults`
Summary = RegressionResults


def summarize(X, y, coef, intercept, *, sample_weight=None, fit_intercept=True,
              feature_names=None, target_name=None, cov_type="nonrobust", alpha=0.05,
              penalized_reason=None, use_t=None, precision="auto", loss="squared",
              epsilon=1.35, cov_kwds=None) -> RegressionResults:
    """Summary of the linear model ``y ~ X coef + intercept`` on in-memory data.

    Builds :class:`InferenceStats` (with the leverage pass when ``cov_type`` is HC2/HC3)
    and calls :func:`summary_from_stats`; see there for the parameters and formulas.
    ``feature_names`` default to ``X``'s columns when it is a DataFrame, else x1..xd;
    ``target_name`` to the name of ``y`` when it is a named pandas Series, else "y".  The
    rows are kept for ``resid`` and ``fittedvalues`` (and the Huber optimum).
    """
    if feature_names is None and isinstance(X, pd.DataFrame):
        feature_names = [str(c) for c in X.columns]
    if target_name is None:
        target_name = series_name(y) or "y"
    cov_type = check_cov_type(cov_type)
    stats = InferenceStats.from_arrays(
        X, y, coef, intercept, sample_weight=sample_weight, fit_intercept=fit_intercept,
        leverage=cov_type in ("HC2", "HC3") and penalized_reason is None, precision=precision)
    return summary_from_stats(stats, coef, intercept, fit_intercept=fit_intercept,
                              feature_names=feature_names, target_name=target_name,
                              cov_type=cov_type, alpha=alpha, penalized_reason=penalized_reason,
                              use_t=use_t, loss=loss, epsilon=epsilon,
                              data=(X, y, sample_weight), cov_kwds=cov_kwds)


def summary_from_stats(stats: InferenceStats, coef=None, intercept=None, *, sample_weight=None,
                       fit_intercept=None, feature_names=None, target_name="y",
                       cov_type="nonrobust", alpha=0.05, penalized_reason=None,
                       use_t=None, loss="squared", epsilon=1.35,
                       data=None, cov_kwds=None, scores=None,
                       digits=None) -> RegressionResults:
    r"""Summary from sufficient statistics, at the parameters they were taken at.

    Parameters
    ----------
    stats : InferenceStats
    coef, intercept : optional
        Must equal ``stats.coef``/``stats.intercept`` (the residual statistics depend on
        them); default: those.
    sample_weight : None
        Accepted for symmetry with :func:`summarize` only: the weights are already part of
        ``stats``; anything but None is an error.
    fit_intercept : bool, optional
        Must equal ``stats.fit_intercept`` when given.
    feature_names : sequence of str, optional
    target_name : str
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "HAC", "cluster"}
        "HAC" and "cluster" are the sandwiches of :mod:`gradfit.stats.robust`; they need
        ``scores`` (from :func:`~gradfit.stats.robust.robust_scores`) or ``data``.
    cov_kwds : dict, optional
        HAC: ``maxlags`` (required), ``use_correction`` (default False: none; True:
        :math:`n/(n-q)`).  cluster: ``groups`` (one label per row of ``data``),
        ``use_correction`` (default True: :math:`\frac{G}{G-1}\frac{n-1}{n-q}`),
        ``df_correction`` (default True: t and F tests with :math:`G - 1` denominator df).
        As statsmodels' ``fit(cov_type=..., cov_kwds=...)``.
    scores : HACScores or ClusterScores, optional
        The merged score statistics (from a backend's pass) for "HAC"/"cluster".
    alpha : float
        Confidence level ``1 - alpha`` for the intervals.
    penalized_reason : str, optional
        For penalized fits: only ``coef`` is reported in the table, with this reason.
    use_t : bool, optional
        t (True) or normal (False) reference distribution for the coefficient tests and
        intervals; default as statsmodels' ``fit(cov_type=...)``: True only for nonrobust.
    loss : {"squared", "huber"}
        The fit's loss.  For "huber" (threshold ``epsilon``) the results are titled Huber,
        the least-squares standard errors are not given, and the optimality numbers measure
        the distance to the Huber optimum (:func:`~gradfit.stats.optimality.huber_optimality`,
        which needs ``data``; without it they are NaN and a note says so).
    data : tuple, optional
        ``(X, y, sample_weight[, row_index])``, the rows the statistics were taken from: kept for
        ``resid``/``fittedvalues`` (their pandas index, if any, labels them).
    digits : array_like, optional
        The significant digits the fit's optimality certificate supports for each parameter,
        intercept first (``gradfit.solvers.certificate.parameter_digits``; NaN: not bounded).
        The coefficients and their intervals are then shown to no more digits, with a note.

    Returns
    -------
    RegressionResults
        ``model`` holds (with :math:`q` parameters, :math:`k_c` = 1 with an intercept else 0,
        :math:`\mathrm{SSR} = \sum s_i e_i^2` at the given parameters):

        * ``n``, ``df_model`` :math:`= q - k_c`, ``df_resid`` :math:`= n - q`,
          ``resid_std_err`` :math:`= \sqrt{\mathrm{SSR}/(n-q)}`;
        * ``r_squared`` :math:`= 1 - \mathrm{SSR}/\mathrm{TSS}` with the centred TSS
          :math:`\sum s (y-\bar y)^2` or, without intercept, the uncentred :math:`\sum s y^2`
          (``centered_r_squared`` says which); ``adj_r_squared``
          :math:`= 1 - (n - k_c)/(n-q)\,(1-R^2)`; ``ess`` :math:`= \mathrm{TSS-SSR}`;
        * ``f_statistic`` :math:`= (\mathrm{ESS}/df_{model})/(\mathrm{SSR}/df_{resid})` for
          nonrobust, else the Wald statistic :math:`\hat\beta^\top V^{-1}\hat\beta / q_w` over
          the non-constant coefficients; ``f_pvalue`` from F(df_model, df_resid);
        * ``log_likelihood`` :math:`= -\frac n2 \log \mathrm{SSR} - \frac n2 (1 +
          \log\frac{2\pi}{n}) + \frac12 \sum\log s_i`; ``aic`` :math:`= -2\ell + 2q`;
          ``bic`` :math:`= -2\ell + q\log n`;
        * ``condition_number`` :math:`= \sigma_{max}/\sigma_{min}` of the weighted design
          :math:`W^{1/2}Z` (constant column included), from
          :math:`\lVert T\rVert_2 \lVert T^{-1}\rVert_2` with :math:`T^\top T = Z^\top W Z`;
          ``min_eigenvalue`` :math:`= \sigma_{min}^2`;
        * residual diagnostics of the whitened residuals :math:`r_i`: ``durbin_watson``,
          ``skew`` :math:`= m_3/m_2^{3/2}`, ``kurtosis`` :math:`= m_4/m_2^2` (central
          moments :math:`m_k = M_k/n`), ``jarque_bera`` :math:`= \frac n6 (S^2 +
          (K-3)^2/4)` with its :math:`\chi^2_2` p-value, ``omnibus`` (D'Agostino–Pearson
          :math:`Z_{skew}^2 + Z_{kurt}^2`, NaN for n < 8);
        * optimality: ``objective`` :math:`F(\theta)`, ``grad_norm`` :math:`\lVert\nabla
          F(\theta)\rVert_2` in the original parameters, ``objective_gap``
          :math:`F(\theta) - F(\theta^*) = (\theta-\theta^*)^\top A (\theta-\theta^*)/S`,
          ``objective_gap_rel`` :math:`=` gap / :math:`F(\theta)`, ``coef_rel_distance``
          :math:`= \lVert\theta-\theta^*\rVert/\lVert\theta^*\rVert`.
    """
    if sample_weight is not None:
        raise ValueError("summary_from_stats takes no sample_weight: the weights are part of "
                         "the statistics (pass them to InferenceStats.from_arrays)")
    _check_params(stats, coef, intercept, fit_intercept)
    cov_type = check_cov_type(cov_type)
    if not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    names = _feature_names(feature_names, stats.n_features)
    if stats.n == 0:
        raise ValueError("no rows with positive weight: nothing to summarize")
    geo = Geometry(stats)
    model, warns = _model_numbers(stats, geo, cov_type)
    loss = _check_loss(loss)
    rows = _rows(data, stats)
    if loss == "huber":
        penalized_reason, opt = _huber(stats, rows, epsilon, penalized_reason, model, warns)
    else:
        opt = optimality(stats, geo)
    model.update(opt.numbers)
    if penalized_reason is None or (loss == "huber" and model.get("penalty") is None):
        warns += opt.warnings(stats)
    use_t = cov_type == "nonrobust" if use_t is None else bool(use_t)
    model["use_t"] = use_t
    params = theta(stats)
    index = (["intercept"] if stats.fit_intercept else []) + names
    shown = _shown_digits(digits, index, params, warns)
    common = {"optimum": opt.optimum, "target_name": str(target_name), "alpha": float(alpha),
              "stats": stats, "data": rows, "digits": shown}
    if penalized_reason is not None:
        return _penalized_summary(model, warns, params, index, penalized_reason, loss, common)
    if cov_type in SCORE_COV_TYPES:
        factor, description = _score_factor(stats, geo, cov_type, dict(cov_kwds or {}), scores,
                                            rows, model)
    else:
        if cov_kwds:
            raise ValueError(f"cov_type={cov_type!r} takes no cov_kwds")
        factor, description = (cov_factor(stats, geo, cov_type, model["df_resid"]),
                               COV_DESCRIPTIONS[cov_type])
    if factor is None and cov_type in ("HC2", "HC3"):
        raise ValueError(f"{cov_type} needs leverages, which need a second pass over the data: "
                         "call stats.with_leverage(blocks) first (summarize() does it itself)")
    table, cov = _coef_table(params, factor, model, use_t, alpha, index)
    model.update(robust_f_test(stats, model, factor, params, cov_type))
    notes = [description] + warns
    return RegressionResults(coefficients=table, model=model, warnings=warns, notes=notes,
                             cov=cov, _cov_factor=factor, **common)


def _score_factor(stats, geo, cov_type, kwds, scores, rows, model):
    """Covariance factor and description of a HAC or cluster covariance."""
    known = {"HAC": {"maxlags", "use_correction", "kernel"},
             "cluster": {"groups", "use_correction", "df_correction"}}[cov_type]
    if set(kwds) - known:
        raise ValueError(f"cov_type={cov_type!r} takes cov_kwds {sorted(known)}; got "
                         f"{sorted(set(kwds) - known)}")
    if str(kwds.get("kernel", "bartlett")).lower() != "bartlett":
        raise ValueError("only the Bartlett kernel is implemented (kernel='bartlett')")
    if scores is None:
        if rows is None:
            raise ValueError(f"cov_type={cov_type!r} needs a pass over the rows: pass data= "
                             "or scores=robust_scores(backend, ...)")
        X, y, s, _ = rows
        scores = robust_scores((X, y, s), stats.coef, stats.intercept, cov_type=cov_type,
                               fit_intercept=stats.fit_intercept, groups=kwds.get("groups"),
                               maxlags=kwds.get("maxlags"), dtype=stats.dtype.type)
    expected = ClusterScores if cov_type == "cluster" else HACScores
    if not isinstance(scores, expected) or scores.n != stats.n:
        raise ValueError(f"scores must be the {expected.__name__} of the same {stats.n} rows")
    n, q = stats.n, geo.q
    if cov_type == "HAC":
        if "maxlags" in kwds and kwds["maxlags"] != scores.maxlags:
            raise ValueError(f"maxlags={kwds['maxlags']} but the scores have {scores.maxlags}")
        corrected = bool(kwds.get("use_correction", False))
        factor = robust_factor(geo, scores.meat, n / (n - q) if corrected else 1.0)
        model.update(maxlags=scores.maxlags)
        return factor, ROBUST_DESCRIPTIONS["HAC"].format(
            maxlags=scores.maxlags, correction="with" if corrected else "without")
    if scores.n_groups < 2:
        raise ValueError(f"cluster-robust covariance needs at least 2 clusters; got "
                         f"{scores.n_groups}")
    corrected = bool(kwds.get("use_correction", True))
    factor = robust_factor(geo, scores.meat(), scores.correction(n, q) if corrected else 1.0)
    model.update(n_groups=scores.n_groups)
    if kwds.get("df_correction", True):
        model["df_resid_inference"] = float(scores.n_groups - 1)
    return factor, ROBUST_DESCRIPTIONS["cluster"]


def _shown_digits(digits, index, params, warns) -> pd.Series | None:
    """The certificate's digits per parameter as a Series, and the note that says the table
    shows no more of them (or that they are not bounded)."""
    if digits is None:
        return None
    digits = np.asarray(digits, float).reshape(-1)
    if digits.size != len(index):
        raise ValueError(f"digits: one count per parameter ({len(index)}: {index}); got "
                         f"{digits.size}")
    known = digits[np.isfinite(digits)]
    if known.size < digits.size:
        warns.append("The optimality certificate bounds the error of "
                     + ("no coefficient" if known.size == 0 else "only some coefficients")
                     + " here (no curvature known, or more than 256 features): the digits "
                       "shown are not certified.")
    values = np.asarray(params, float).reshape(-1)
    if any(_capped(x, g) for x, g in zip(values, digits)):
        low, high = int(known.min()), int(known.max())
        span = f"{low}" if low == high else f"{low} to {high}"
        warns.append(f"The coefficients and their intervals are shown to the {span} "
                     "significant digits the optimality certificate supports: the fit is not "
                     "known to be closer to the optimum than that"
                     + ("; ~ marks a coefficient with no certified digit." if low < 1
                        else "."))
    return pd.Series(digits, index=index, name="digits")


def _capped(x: float, digits: float) -> bool:
    """True when ``digits`` certified digits cut the table's 4 decimals (or 4 significant
    digits in exponent form) of ``x``."""
    res = resolution(x, digits)
    if res is None:
        return False
    if abs(x) >= 1e4 or abs(x) < 1e-4:
        return digits < 4
    return res > 1.5e-4


def series_name(y) -> str | None:
    """The name of a named pandas Series (or any object with a string-able ``name``)."""
    name = getattr(y, "name", None)
    return None if name is None or isinstance(y, np.ndarray) else str(name)


def _check_loss(loss) -> str:
    if loss not in ("squared", "huber"):
        raise ValueError(f"loss must be 'squared' or 'huber' for a summary; got {loss!r}")
    return loss


def _rows(data, stats):
    """``(X, y, s, index)`` from ``(X, y[, s])``, checked against the statistics."""
    if data is None:
        return None
    X, y, s, index = (tuple(data) + (None, None))[:4]
    if index is None:
        index = getattr(y, "index", getattr(X, "index", None))
    Xa, ya, sa = check_block(X, y, s, d=stats.n_features)
    return Xa, ya, sa, index


def _huber(stats, rows, epsilon, penalized_reason, model, warns):
    """The Huber fit's reason for no classical inference and its optimality."""
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number; got {epsilon}")
    model.update(model="Huber", method=f"Huber (ε={epsilon:g})", epsilon=float(epsilon),
                 penalty=penalized_reason)
    what = f"Huber loss (epsilon={epsilon:g})"
    reason = what if penalized_reason is None else f"{what}, {penalized_reason}"
    if rows is None:
        warns.append("The Huber optimum needs the rows again (they were not given): the "
                     "optimality numbers are not computed.")
        nan = {k: np.nan for k in ("grad_norm", "objective", "objective_gap",
                                   "objective_gap_rel", "coef_rel_distance",
                                   "objective_optimum")}
        d = stats.n_features
        return reason, Optimality(nan, {"coef": np.full(d, np.nan), "intercept": np.nan},
                                  np.nan, 0.0, target="Huber")
    X, y, s, _ = rows
    return reason, huber_optimality(X, y, s, stats.coef, stats.intercept,
                                    fit_intercept=stats.fit_intercept, epsilon=epsilon)


def _check_params(stats, coef, intercept, fit_intercept) -> None:
    if fit_intercept is not None and bool(fit_intercept) != stats.fit_intercept:
        raise ValueError(f"fit_intercept={fit_intercept} but the statistics were accumulated "
                         f"with fit_intercept={stats.fit_intercept}")
    c, icp = as_coef(stats.coef if coef is None else coef,
                      stats.intercept if intercept is None else intercept, True)
    if not np.array_equal(c, stats.coef):
        raise ValueError("coef differs from the parameters the statistics were taken at; "
                         "residual statistics depend on them: rebuild the statistics")
    if icp != stats.intercept:
        raise ValueError("intercept differs from the one the statistics were taken at")


def _feature_names(names, d: int) -> list[str]:
    if names is None:
        return [f"x{j + 1}" for j in range(d)]
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"{len(names)} feature_names for {d} features")
    if len(set(names)) != d or "intercept" in names:
        raise ValueError("feature_names must be unique and must not be 'intercept'")
    return names


def _model_numbers(stats: InferenceStats, geo: Geometry, cov_type: str):
    """Fit statistics at the given parameters (see :func:`summary_from_stats`)."""
    n, kc = stats.n, int(stats.fit_intercept)
    df_model, df_resid = float(geo.rank - kc), float(n - geo.rank)
    ssr = stats.ssr
    ctss = stats.centered_tss
    utss = ctss + stats.sw_sum * stats.mean_y ** 2
    tss = ctss if kc else utss
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1 - ssr / tss
        mse_resid = ssr / df_resid if df_resid > 0 else np.nan
        mse_model = (tss - ssr) / df_model if df_model > 0 else np.nan
        llf = (-n / 2 * np.log(ssr) - n / 2 * (1 + np.log(2 * np.pi / n))
               + stats.sum_log_sw / 2)
        fval = mse_model / mse_resid
    k_params = df_model + kc
    model = {
        "model": "WLS" if stats.weighted else "OLS", "method": "Least Squares", "n": int(n),
        "df_model": df_model,
        "df_resid": df_resid, "resid_std_err": float(np.sqrt(mse_resid)),
        "r_squared": float(r2), "centered_r_squared": bool(kc),
        "adj_r_squared": float(1 - (n - kc) / df_resid * (1 - r2)) if df_resid > 0 else np.nan,
        "f_statistic": float(fval),
        "f_pvalue": float(sst.f.sf(float(fval), df_model, df_resid)) if df_model > 0 else np.nan,
        "log_likelihood": float(llf), "aic": float(-2 * llf + 2 * k_params),
        "bic": float(-2 * llf + np.log(n) * k_params),
        "condition_number": float(geo.cond), "min_eigenvalue": float(geo.min_eig),
        "ssr": float(ssr), "ess": float(tss - ssr), "centered_tss": float(ctss),
        "uncentered_tss": float(utss), "mse_model": float(mse_model),
        "mse_resid": float(mse_resid), "mse_total": float(tss / (n - kc)),
        "sum_weights": float(stats.sw_sum), "cov_type": cov_type,
        **residual_diagnostics(stats),
    }
    return model, _model_warnings(stats, geo, model)


def _model_warnings(stats: InferenceStats, geo: Geometry, model: dict) -> list[str]:
    warns = []
    if not stats.fit_intercept:
        warns.append(_UNCENTERED_NOTE)
    if not geo.full_rank:
        warns.append(f"The design is rank deficient (rank {geo.rank} < {geo.q} parameters): "
                     "the coefficients are not identified; standard errors are not given.")
    elif model["min_eigenvalue"] < 1e-10:
        warns.append(f"The smallest eigenvalue is {model['min_eigenvalue']:6.3g}. This might "
                     "indicate that there are strong multicollinearity problems or that the "
                     "design matrix is singular.")
    elif model["condition_number"] > 1000:
        warns.append(f"The condition number is large, {model['condition_number']:6.3g}. This "
                     "might indicate that there are strong multicollinearity or other "
                     "numerical problems.")
    if model["df_resid"] <= 0:
        warns.append("No residual degrees of freedom (n <= parameters): no inference.")
    if stats.n < 8:
        warns.append(f"The omnibus normality test needs at least 8 observations; got {stats.n}.")
    if not np.isfinite(model["skew"]):
        warns.append("The residuals are all (numerically) zero: skew, kurtosis and the "
                     "normality tests are undefined.")
    if stats.max_leverage is not None and stats.max_leverage >= 1 - 1e-12:
        warns.append("Some observation has leverage 1: HC2/HC3 standard errors are not finite.")
    return warns


def _coef_table(params, factor, model, use_t: bool, alpha: float, index):
    """Coefficient table and covariance DataFrame from the covariance factor."""
    cov = factor.T @ factor
    se = np.sqrt((factor * factor).sum(0))
    params_f, se_f = np.asarray(params, float), np.asarray(se, float)
    df = model.get("df_resid_inference", model["df_resid"])
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = np.asarray(params / se, float)
        if use_t:
            pval, crit = 2 * sst.t.sf(np.abs(tval), df), sst.t.ppf(1 - alpha / 2, df)
        else:
            pval, crit = 2 * sst.norm.sf(np.abs(tval)), sst.norm.ppf(1 - alpha / 2)
        lo = np.asarray(params - crit * se, float)
        hi = np.asarray(params + crit * se, float)
    table = pd.DataFrame({"coef": params_f, "std_err": se_f, "t": tval, "p_value": pval,
                          "ci_low": lo, "ci_high": hi}, index=index)
    return table, pd.DataFrame(np.asarray(cov, float), index=index, columns=index)


def _penalized_summary(model, warns, params, index, reason, loss, common):
    """Results of a penalized or Huber fit: coefficients only, no classical inference."""
    table = pd.DataFrame(np.nan, index=index, columns=COEF_COLUMNS)
    table["coef"] = np.asarray(params, float)
    penalized = loss != "huber" or model.get("penalty") is not None
    model.update(f_statistic=np.nan, f_pvalue=np.nan, penalized=penalized,
                 penalized_reason=reason)
    optimum = ("the Huber optimum without penalty" if loss == "huber" and penalized else
               "the Huber optimum" if loss == "huber" else
               "the unpenalized least-squares optimum")
    assumes = ("a least-squares fit" if loss == "huber" and not penalized
               else "the unpenalized least-squares estimator")
    kind = "Penalized fit" if penalized else "Robust fit"
    msg = (f"{kind} ({reason}): classical standard errors, t statistics, p-values, "
           f"confidence intervals and the F test are not given, because they assume "
           f"{assumes}. The optimality numbers measure the distance to {optimum}.")
    warns = [msg] + warns
    return RegressionResults(coefficients=table, model=model, warnings=warns, notes=list(warns),
                             cov=None, _cov_factor=None, **common)
