"""`python3 bench/sdk_python.py [--rate N] [--seconds S]`: what the Python
client (clients/python) costs the service it runs in. A model server's loop
logs events at a steady rate (default 5,000/s for 10 s, twelve features
each) to a real driftwatch in its own process; every log() call is timed
(p99 must stay under 1 ms), and this process's CPU (all threads: the
sender threads' JSON-joining, gzip and HTTP too) is measured per event,
less the same loop's CPU with log() left out. Run with the package
importable: PYTHONPATH=clients/python/src."""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python" / "tests"))
from conftest import Service, free_port, wait_for  # noqa: E402
from driftwatch_client import Client  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--rate", type=int, default=5_000)
parser.add_argument("--seconds", type=float, default=10)
args = parser.parse_args()
TICK = 0.005
PURPOSES = ["car", "home", "medical", "education"]
STATES = ["CA", "NY", "TX"]
NOW = int(time.time() * 1000)


def make(i):
    return {"model": "bench-sdk-py", "timestamp": NOW + i % 60_000, "prediction": (i % 100) / 100, "latency_ms": 3.1,
            "features": {"annual_income": 40_000 + (i % 997) * 61, "credit_score": 550 + i % 300, "loan_amount": 5_000 + (i % 41) * 500,
                         "dti": (i % 50) / 100, "age": 21 + i % 50, "months_employed": i % 240, "open_accounts": i % 17,
                         "delinquencies": i % 3, "loan_purpose": PURPOSES[i % 4], "home_ownership": "rent" if i % 2 else "own",
                         "state": STATES[i % 3], "has_cosigner": i % 5 == 0}}


def loop(work):
    total = int(args.rate * args.seconds)
    per_tick = max(1, round(args.rate * TICK))
    times = [0] * total
    cpu = time.process_time()
    started = time.perf_counter()
    i = 0
    clock = time.perf_counter_ns
    while i < total:
        end = min(total, i + per_tick)
        while i < end:
            t = clock()
            work(i)
            times[i] = clock() - t
            i += 1
        due = started + i / args.rate
        time.sleep(max(0.0, due - time.perf_counter()))
    return times, time.process_time() - cpu


with tempfile.TemporaryDirectory(prefix="driftwatch-bench-") as data_dir:
    service = Service(data_dir, free_port(), {})
    service.start()
    try:
        sink = [0]
        _, control_cpu = loop(lambda i: sink.__setitem__(0, sink[0] + make(i)["features"]["age"]))
        client = Client(service.url)
        times, cpu = loop(lambda i: client.log(make(i)))
        flush_cpu = time.process_time()
        assert client.flush(120)
        flush_cpu = time.process_time() - flush_cpu
        total = len(times)
        wait_for(lambda: service.events("bench-sdk-py") == total, 120, "all events stored")
        times.sort()
        q = lambda p: times[min(total - 1, int(p * total))] / 1000  # noqa: E731
        per_event = (cpu + flush_cpu - control_cpu) / total * 1e6
        print(json.dumps({
            "python": sys.version.split()[0], "rate": args.rate, "seconds": args.seconds, "events": total,
            "stored": service.events("bench-sdk-py"),
            "log_us": {"p50": round(q(0.5), 2), "p99": round(q(0.99), 2), "p999": round(q(0.999), 2), "max": round(times[-1] / 1000, 1)},
            "sdk_cpu_us_per_event": round(per_event, 2),
            "sdk_cpu_share_of_one_core": round(per_event * args.rate / 1e6, 4),
            "retries": client.stats()["retries"], "dropped": client.stats()["events"]["dropped"],
        }, indent=1))
        client.close()
    finally:
        service.stop()
