"""Shared fixtures: the reference data in ../shared/data and the NIST loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def _need_shared():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (it sits beside the repo in CI)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    _need_shared()
    return SHARED_DATA


def load_nist(name: str):
    """Return (A, y, beta_cert, sd_cert, entry) with A the full design matrix of the model
    (a column of ones first when the model has an intercept)."""
    _need_shared()
    cert = json.loads((SHARED_DATA / "nist/certified.json").read_text())
    e = cert["datasets"][name]
    arr = np.loadtxt(SHARED_DATA / "nist" / Path(e["csv"]).name, delimiter=",", skiprows=1,
                     ndmin=2)
    y, X = arr[:, 0], arr[:, 1:]
    if e["polynomial_degree"] is not None:
        powers = [int(p["name"][1:]) for p in e["parameters"]]
        A = np.column_stack([X[:, 0] ** k for k in powers])
    else:
        A = np.column_stack([np.ones(len(y)), X])
    beta = np.array([float(p["estimate"]) for p in e["parameters"]])
    sd = np.array([float(p["std_dev"]) for p in e["parameters"]])
    return A, y, beta, sd, e


NIST_NAMES = ["Norris", "Pontius", "NoInt1", "NoInt2", "Filip", "Longley",
              "Wampler1", "Wampler2", "Wampler3", "Wampler4", "Wampler5"]


def nist_xy(name: str):
    """(X, y, fit_intercept, beta_cert, sd_cert, entry): X excludes the ones column."""
    A, y, beta, sd, e = load_nist(name)
    if e["intercept"]:
        return A[:, 1:], y, True, beta, sd, e
    return A, y, False, beta, sd, e


def digits(estimate, certified):
    """NIST's log relative error (LRE), per element; absolute where certified is 0."""
    estimate, certified = np.asarray(estimate, float), np.asarray(certified, float)
    err = np.abs(estimate - certified)
    rel = np.where(certified == 0, err, err / np.where(certified == 0, 1, np.abs(certified)))
    with np.errstate(divide="ignore"):
        return np.minimum(np.where(rel == 0, 15.0, -np.log10(rel)), 15.0)


def nist_xy_extended(name: str):
    """(X, y, fit_intercept, beta) like ``nist_xy`` but read from the CSV text straight into
    80-bit long double, powers taken in long double: the data as NIST prints them, to ~19
    digits (float64 powers x**k of Filip already lose digits: exact arithmetic on them gives
    only 7.6 certified digits)."""
    _, _, fit_intercept, beta, _, entry = nist_xy(name)
    arr = np.loadtxt(SHARED_DATA / "nist" / Path(entry["csv"]).name, delimiter=",",
                     skiprows=1, ndmin=2, dtype=np.longdouble)
    y, x = arr[:, 0], arr[:, 1:]
    if entry["polynomial_degree"] is None:
        return x, y, fit_intercept, beta
    powers = [int(p["name"][1:]) for p in entry["parameters"]]
    X = np.column_stack([x[:, 0] ** k for k in powers if k > 0 or not fit_intercept])
    return X, y, fit_intercept, beta


@pytest.fixture(scope="module")
def dask_client():
    """One real two-worker Dask cluster per test module: processes, falling back to threads
    if the sandbox forbids spawning processes."""
    import warnings

    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():  # the scheduler's health endpoint may find 8787 taken
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        try:
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               host="127.0.0.1")
        except Exception:  # noqa: BLE001 - no process spawning here: threads will do
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=False, dashboard_address=None,
                                               host="127.0.0.1")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
