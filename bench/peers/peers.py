"""The Python side of the peer benchmark (bench/peers/run.ts drives it).

  python peers.py generate --rows N --numeric K --categorical M --start MS --out data.parquet
  python peers.py bodies --parquet data.parquet --model M --batch B     (JSON arrays on stdout, one a line)
  python peers.py time --tool evidently|nannyml|scipy --parquet data.parquet   (one JSON line on stdout)

One Parquet file holds both halves (column `half`: reference, current) with
the shapes of bench/workload.ts and bench/drift.ts: numeric feature i is
normal with standard deviation (i mod 15) + 1, shifted by 0.05 in the
current half, rounded to 5 decimals; categoricals take four of six values.
Every tool reads the same file; only each tool's own analysis is timed (the
file is read and split into pandas frames before the clock starts), as
driftwatch's side times its GET /drift and not the loading.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # nannyml posts usage data and waits on it offline

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
HALF_MS = 2 * 3_600_000  # each half spans two hours of event time


def names(table):
    numeric = [c for c in table.column_names if c.startswith("num_")]
    categorical = [c for c in table.column_names if c.startswith("cat_")]
    return numeric, categorical


def generate(args):
    rng = np.random.default_rng(22)
    halves = []
    for half, shift, start in (("reference", 0.0, args.start), ("current", 0.05, args.start + HALF_MS)):
        n = args.rows
        columns = {
            "event_id": pa.array([f"{half[0]}{i}" for i in range(n)]),
            "half": pa.array([half] * n),
            "ts": pa.array(start + (np.arange(n, dtype=np.int64) * HALF_MS) // n),
            # driftwatch requires a prediction; it judges it as one more target, the peers ignore it.
            "prediction": pa.array(np.round(rng.uniform(0, 1, n), 5)),
        }
        for i in range(args.numeric):
            columns[f"num_{i}"] = pa.array(np.round(rng.normal(0, 1, n) * (i % 15 + 1) + shift, 5))
        for i in range(args.categorical):
            columns[f"cat_{i}"] = pa.array(CATEGORIES[rng.integers(0, 4, n)])
        halves.append(pa.table(columns))
    pq.write_table(pa.concat_tables(halves), args.out)


def bodies(args):
    """Events as driftwatch's POST /v1/events takes them."""
    table = pq.read_table(args.parquet)
    numeric, categorical = names(table)
    out = sys.stdout
    features = numeric + categorical
    for batch in table.to_batches(max_chunksize=args.batch):
        cols = batch.to_pydict()
        # Row tuples by zip and dicts by zip: about twice as fast as indexing every value.
        events = [
            {"event_id": i, "model": args.model, "timestamp": t, "features": dict(zip(features, values)), "prediction": p}
            for i, t, p, values in zip(cols["event_id"], cols["ts"], cols["prediction"], zip(*(cols[c] for c in features)))
        ]
        try:
            out.write(json.dumps(events, separators=(",", ":")))
            out.write("\n")
        except BrokenPipeError:  # the reader has all it wants
            return
    out.flush()


# Each tool's imports happen before its clock starts (a second or more for
# evidently and nannyml): what is timed is the analysis.


def evidently_drift():
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    return lambda *a: _evidently(DataDefinition, Dataset, Report, DataDriftPreset, *a)


def _evidently(DataDefinition, Dataset, Report, DataDriftPreset, reference, current, numeric, categorical):
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    return {"metrics": len(snapshot.dict()["metrics"])}


def nannyml_drift():
    import nannyml as nml

    return lambda *a: _nannyml(nml, *a)


def _nannyml(nml, reference, current, numeric, categorical):
    # Its default methods (Jensen-Shannon for both kinds); one chunk, so that
    # it judges the current half as one window, as driftwatch and scipy do.
    calc = nml.UnivariateDriftCalculator(column_names=numeric + categorical, chunk_number=1)
    calc.fit(reference)
    result = calc.calculate(current).filter(period="analysis")
    return {"rows": len(result.to_df())}


def scipy_loop():
    from scipy.stats import chi2_contingency, ks_2samp

    return lambda *a: _scipy(chi2_contingency, ks_2samp, *a)


def _scipy(chi2_contingency, ks_2samp, reference, current, numeric, categorical):
    drifted = 0
    for c in numeric:
        drifted += ks_2samp(reference[c].to_numpy(), current[c].to_numpy()).pvalue < 0.05
    for c in categorical:
        ref = reference[c].value_counts()
        cur = current[c].value_counts()
        table = np.array([[ref.get(k, 0) for k in ref.index.union(cur.index)], [cur.get(k, 0) for k in ref.index.union(cur.index)]])
        drifted += chi2_contingency(table).pvalue < 0.05
    return {"drifted": int(drifted)}


TOOLS = {"evidently": evidently_drift, "nannyml": nannyml_drift, "scipy": scipy_loop}


def timed(args):
    table = pq.read_table(args.parquet)
    numeric, categorical = names(table)
    frame = table.select(numeric + categorical + ["half"]).to_pandas()
    for c in categorical:
        frame[c] = frame[c].astype("category")
    reference = frame[frame["half"] == "reference"].drop(columns=["half"]).reset_index(drop=True)
    current = frame[frame["half"] == "current"].drop(columns=["half"]).reset_index(drop=True)
    del frame, table
    run = TOOLS[args.tool]()
    # A first call on a small slice, not timed: what a tool loads or compiles on first use is not analysis.
    run(reference.head(2000), current.head(2000), numeric, categorical)
    started = time.perf_counter()
    summary = run(reference, current, numeric, categorical)
    seconds = time.perf_counter() - started
    print(json.dumps({"tool": args.tool, "seconds": seconds, "rows": [len(reference), len(current)], **summary}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--rows", type=int, required=True)
    g.add_argument("--numeric", type=int, required=True)
    g.add_argument("--categorical", type=int, required=True)
    g.add_argument("--start", type=int, required=True)
    g.add_argument("--out", required=True)
    b = sub.add_parser("bodies")
    b.add_argument("--parquet", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--batch", type=int, default=2000)
    t = sub.add_parser("time")
    t.add_argument("--tool", choices=sorted(TOOLS), required=True)
    t.add_argument("--parquet", required=True)
    args = parser.parse_args()
    {"generate": generate, "bodies": bodies, "time": timed}[args.command](args)


if __name__ == "__main__":
    main()
