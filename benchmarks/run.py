"""`make bench`: gradfit against the memory-bandwidth floor and its peers, as ratios measured
in the same run.

    python benchmarks/run.py            # every figure (about 5-10 minutes on 2 cores)
    python benchmarks/run.py --quick    # small sizes only (under a minute: the smoke test)
    python benchmarks/run.py --only a,e --out /tmp/bench
    python benchmarks/run.py --only j --merge   # rerun (j), keep the other figures' rows

Figures: (a) full-batch epoch vs the floor; (b) mini-batch epochs vs SGDRegressor;
(c) time to a 1e-6 objective gap per solver vs peers; (d) peak memory during a fit;
(e) the exact solver vs Ridge(cholesky); (f) streamed files; (g) Dask; (h) small and wide fits
vs scikit-learn; (i) start-up time; (j) the lasso and its path vs scikit-learn, skglm, celer;
(s) sparse (CSR) SGD epochs vs SGDRegressor.
Writes latest.json and latest.md under --out (with --merge, the rows of the figures not run
this time are kept from the latest.json already there, each figure with its own date in
meta["figure_dates"]).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fig_converge  # noqa: E402
import fig_dask  # noqa: E402
import fig_epoch  # noqa: E402
import fig_exact  # noqa: E402
import fig_lasso  # noqa: E402
import fig_memory  # noqa: E402
import fig_minibatch  # noqa: E402
import fig_small  # noqa: E402
import fig_sparse  # noqa: E402
import fig_startup  # noqa: E402
import fig_stream  # noqa: E402
from common import Skip, fmt, machine_info  # noqa: E402

FIGURES = {"a": fig_epoch, "b": fig_minibatch, "c": fig_converge, "d": fig_memory,
           "e": fig_exact, "f": fig_stream, "g": fig_dask, "h": fig_small, "i": fig_startup,
           "j": fig_lasso, "s": fig_sparse}
COLUMNS = ["figure", "size", "gradfit", "baseline", "ratio", "target", "met?"]


def cells(row: dict) -> list[str]:
    unit = row["unit"]
    met = {True: "yes", False: "NO", None: "-"}[row["met"]]
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3g}"
    base = fmt(row["baseline"], unit)
    if row["baseline_name"]:
        base += f" ({row['baseline_name']})"
    return [row["figure"], row["size"], fmt(row["gradfit"], unit), base, ratio,
            row["target"] or "-", met]


def dates_note(meta: dict) -> str:
    """" (figures a-i run on DATE, j on DATE)" when a --merge mixed runs, else ""."""
    by_date = {}
    for key, date in (meta.get("figure_dates") or {}).items():
        by_date.setdefault(date, []).append(key)
    if len(by_date) < 2:
        return ""
    return " (" + "; ".join(f"figures {','.join(sorted(k))} run {d}"
                            for d, k in sorted(by_date.items())) + ")"


def markdown(result: dict) -> str:
    m = result["meta"]
    blas = "; ".join(f"{p['internal_api']} {p['version']} {p['num_threads']} threads "
                     f"({p['user_api']}, {p.get('architecture') or '-'})"
                     for p in m["threadpools"])
    lines = [f"# gradfit benchmarks ({m['date']}{', quick' if m['quick'] else ''})", "",
             f"- machine: {m['cpus']} CPUs, {m['processor']}; Python {m['python']}, "
             f"numpy {m['numpy']}, numba {m['numba']} ({m.get('numba_threads')} threads, "
             f"{m.get('numba_threading_layer')} layer)",
             f"- thread pools: {blas}",
             f"- kernel used by gradfit.fit: {m['fit_kernel']}",
             f"- wall time: {m['seconds']:.0f} s{dates_note(m)}.  Every figure is a median of "
             "several runs; ratios are gradfit / baseline measured in the same run.  Targets "
             "are bounds on the ratio unless stated otherwise.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in result["rows"]]
    if result["skipped"]:
        lines += ["", "Skipped:"] + [f"- ({s['figure']}) {s['reason']}" for s in
                                     result["skipped"]]
    return "\n".join(lines) + "\n"


def print_table(result: dict) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(markdown(result))
        return
    table = Table(*COLUMNS, title="gradfit benchmarks (ratio = gradfit / baseline)")
    for r in result["rows"]:
        table.add_row(*cells(r), style=None if r["met"] is not False else "red")
    Console(width=160).print(table)


def figure_of(row: dict) -> str:
    """The figure letter of a row: its title's first word ("a epoch: ..." -> "a"); the Dask
    figure's rows carry none and belong to (g)."""
    head = row["figure"].split(" ", 1)[0]
    return head if head in FIGURES else "g"


def merged(old: dict, ran, rows, skipped, meta):
    """The rows (and skips) of this run for the figures in ``ran``, the old result's for the
    others, in the order of FIGURES; ``meta["figure_dates"]`` gets the old figures' dates."""
    old_dates = old["meta"].get("figure_dates") or {}
    keep = [r for r in old["rows"] if figure_of(r) not in ran]
    for r in keep:
        meta["figure_dates"].setdefault(figure_of(r),
                                        old_dates.get(figure_of(r), old["meta"]["date"]))
    order = list(FIGURES)
    rows = sorted(keep + rows, key=lambda r: order.index(figure_of(r)))  # stable
    skipped = [s for s in old["skipped"] if s["figure"] not in ran] + skipped
    return rows, skipped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (< 1 minute)")
    ap.add_argument("--only", default="abcdefghijs", help="figures to run, e.g. 'a,e'")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for latest.json/md")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other figures' rows from the latest.json in --out")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    meta = machine_info()
    pools = ", ".join(f"{p['internal_api']}:{p['num_threads']}" for p in meta["threadpools"])
    print(f"thread pools: {pools}; numba {meta['numba']} threads={meta.get('numba_threads')}; "
          f"gradfit.fit kernel: {meta['fit_kernel']}", flush=True)
    rows, skipped = [], []
    for key, mod in FIGURES.items():
        if key not in args.only:
            continue
        t = time.perf_counter()
        try:
            got = mod.run(args.quick)
        except Skip as e:
            print(f"({key}) skipped: {e}", flush=True)
            skipped.append({"figure": key, "reason": str(e)})
            continue
        except Exception as e:  # one broken figure must not lose the others
            traceback.print_exc()
            print(f"({key}) failed: {type(e).__name__}: {e}", flush=True)
            skipped.append({"figure": key, "reason": f"failed: {type(e).__name__}: {e}"})
            continue
        rows += [r.as_dict() for r in got]
        print(f"({key}) {len(got)} figures in {time.perf_counter() - t:.0f} s", flush=True)
    try:
        import numba

        meta["numba_threading_layer"] = numba.threading_layer()
    except Exception:  # numba missing, or no parallel region ran
        meta["numba_threading_layer"] = None
    meta.update(quick=args.quick, seconds=time.perf_counter() - start,
                date=datetime.datetime.now().isoformat(timespec="seconds"))
    ran = [key for key in FIGURES if key in args.only]
    meta["figure_dates"] = {key: meta["date"] for key in ran}
    out = Path(args.out)
    if args.merge and (out / "latest.json").exists():
        rows, skipped = merged(json.loads((out / "latest.json").read_text()), ran, rows,
                               skipped, meta)
    result = {"meta": meta, "rows": rows, "skipped": skipped}
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "latest.md").write_text(markdown(result))
    print_table(result)
    print(f"wrote {out / 'latest.json'} and latest.md ({meta['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
