"""driftwatch_client.Client against a real driftwatch service (conftest.py)."""

import json
import os
import urllib.request
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import API_KEY, CLI, NODE, REPO, Service, free_port, wait_for
from driftwatch_client import Client, Prediction
from proxy import RecordingProxy


def features(i):
    return {"x": i % 97, "c": "a" if i % 2 else "b"}


def test_batches_events_and_labels_and_flush_waits_for_them(service):
    client = Client(service.url, api_key=API_KEY, max_batch_items=100, flush_interval=60)
    ids = [client.log({"model": "py-basic", "features": features(i), "prediction": i % 3}) for i in range(1050)]
    for event_id in ids[:300]:
        client.label(event_id, "py-basic", 1)
    assert len(set(ids)) == 1050
    assert client.flush(60) is True
    stats = client.stats()
    assert stats["events"]["sent"] == 1050 and stats["events"]["queued"] == 0 and stats["events"]["in_flight"] == 0
    assert stats["labels"]["sent"] == 300
    wait_for(lambda: service.events("py-basic") == 1050 and service.labels("py-basic") == 300, 60, "the rows in the store")
    assert client.close() is True


def test_sends_a_batch_when_its_oldest_item_waited_flush_interval(service):
    client = Client(service.url, api_key=API_KEY, max_batch_items=1000, flush_interval=0.2)
    client.log({"model": "py-interval", "features": {"x": 1}, "prediction": 1})
    wait_for(lambda: service.events("py-interval") == 1, 30, "the lone event, sent by time")
    client.close()


def test_reports_a_rejected_item_with_its_reason_and_never_retries_it(service):
    rejections = []
    client = Client(service.url, api_key=API_KEY, on_rejected=rejections.append)
    client.log({"event_id": "good", "model": "py-reject", "features": {"x": 1}, "prediction": 1})
    client.log({"event_id": "seconds", "model": "py-reject", "timestamp": 1795556400, "features": {"x": 1}, "prediction": 1})
    client.log({"event_id": "no-features", "model": "py-reject", "prediction": 1})
    assert client.flush(30) is True
    assert [(r["item"]["event_id"], r["reason"]) for r in rejections] == [
        ("seconds", "timestamp 1795556400 looks like epoch seconds; send epoch milliseconds or RFC 3339"),
        ("no-features", "features is required"),
    ]
    stats = client.stats()
    assert stats["retries"] == 0 and stats["events"]["sent"] == 1 and stats["events"]["rejected"] == 2
    wait_for(lambda: service.events("py-reject") == 1, 30, "the good event")
    client.close()


def test_a_request_refused_whole_is_reported_per_item_and_not_retried(service):
    rejections = []
    client = Client(service.url, api_key="not-the-key-0123456789", on_rejected=rejections.append)
    client.log({"model": "py-key", "features": {"x": 1}, "prediction": 1})
    client.log({"model": "py-key", "features": {"x": 2}, "prediction": 1})
    assert client.close(30) is True
    assert len(rejections) == 2
    assert rejections[0]["status"] == 401 and "DW_UNAUTHORIZED" in rejections[0]["reason"]
    assert client.stats()["retries"] == 0


def test_a_full_queue_drops_by_policy_and_counts_and_reports_each_one():
    nowhere = "http://127.0.0.1:%d" % free_port()  # nothing listens: every attempt fails
    for overflow, expected in (("drop_oldest", ["q%d" % i for i in range(15)]),
                               ("drop_newest", ["q%d" % i for i in range(10, 25)])):
        drops = []
        client = Client(nowhere, overflow=overflow, max_queue_items=10, flush_interval=60, on_dropped=drops.append)
        for i in range(25):
            client.log({"event_id": "q%d" % i, "model": "py-queue", "features": {"x": i}, "prediction": 1})
        assert [i for d in drops for i in d["ids"]] == expected
        assert all(d["reason"] == "queue_full" for d in drops)
        stats = client.stats()["events"]
        assert stats["queued"] == 10 and stats["dropped"]["queue_full"] == 15
        assert client.close(0.3) is False
        assert client.stats()["events"]["dropped"]["close_timeout"] == 10
        client.log({"model": "py-queue", "features": {}, "prediction": 1})
        assert client.stats()["events"]["dropped"]["closed"] == 1


class Recorder:
    def __init__(self):
        self.events = []

    def log(self, event):
        self.events.append(event)
        return event["event_id"]


def test_timed_block_measures_the_call_and_logs_a_failure_and_raises_on():
    # Pure logic (what event the helper builds), so a recorder stands in for the client.
    recorder = Recorder()
    before = int(time.time() * 1000)
    with Prediction(recorder, "m", {"x": 1}, event_id="req-1", tags={"route": "/p"}) as p:
        time.sleep(0.12)
        p.prediction = 0.7
        p.scores = {"yes": 0.7, "no": 0.3}
    with pytest.raises(TimeoutError):
        with Prediction(recorder, "m", {"x": 2}):
            time.sleep(0.05)
            raise TimeoutError("backend too slow")
    ok, failed = recorder.events
    assert ok["event_id"] == "req-1" and ok["prediction"] == 0.7 and ok["scores"] == {"yes": 0.7, "no": 0.3}
    assert ok["tags"] == {"route": "/p"} and ok["timestamp"] >= before and ok["latency_ms"] >= 119
    assert failed["status"] == "error" and failed["error_type"] == "TimeoutError"
    assert failed["features"] == {"x": 2} and "prediction" not in failed and failed["latency_ms"] >= 49
    assert len(failed["event_id"]) == 36


def test_a_call_that_raises_is_stored_as_a_failed_prediction(service):
    client = Client(service.url, api_key=API_KEY)

    @client.timed_function("py-failed", features=lambda x: {"x": x})
    def predict(x):
        if x > 2:
            raise ValueError("out of range")
        return x / 10

    for i in range(5):
        try:
            predict(i)
        except ValueError:
            pass
    assert client.close(30) is True
    assert client.stats()["events"]["sent"] == 5 and client.stats()["events"]["rejected"] == 0
    wait_for(lambda: service.events("py-failed") == 5, 30, "the calls, failed ones too")
    # The window's report counts them: 2 of 5 failed, as ValueError (needs a baseline first).
    now = int(time.time() * 1000)
    baseline = urllib.request.Request(service.url + "/v1/models/py-failed/baselines", method="POST",
                                      data=json.dumps({"from": now - 3_600_000, "to": now + 1}).encode(),
                                      headers={"Authorization": "Bearer " + API_KEY, "Content-Type": "application/json"})
    urllib.request.urlopen(baseline, timeout=60).read()
    report = service.get("/v1/models/py-failed/drift?from=%d&to=%d" % (now - 3_600_000, now + 1))
    assert report["errors"] == {"events": 5, "failed": 2, "rate": 0.4, "types": [{"error_type": "ValueError", "n": 2}]}


def test_the_decorator_logs_every_call_to_the_service(service):
    client = Client(service.url, api_key=API_KEY)

    @client.timed_function("py-decorated", features=lambda x: {"x": x}, prediction=lambda y: y["p"])
    def predict(x):
        return {"p": x / 10}

    assert [predict(i)["p"] for i in range(5)] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert client.close(30) is True
    assert client.stats()["events"]["sent"] == 5
    wait_for(lambda: service.events("py-decorated") == 5, 30, "the decorated calls")


def test_a_forked_child_sends_its_own_events_and_not_the_parents(service):
    client = Client(service.url, api_key=API_KEY, flush_interval=60)
    for i in range(100):
        client.log({"event_id": "parent-%d" % i, "model": "py-fork", "features": {"x": i}, "prediction": 1})
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork server's worker
        code = 1
        try:
            queued = client.stats()["events"]["queued"]
            for i in range(50):
                client.log({"event_id": "child-%d" % i, "model": "py-fork", "features": {"x": i}, "prediction": 1})
            ok = client.flush(60)
            stats = client.stats()["events"]
            code = 0 if (queued == 0 and ok and stats["sent"] == 50) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert client.flush(60) is True
    assert client.stats()["events"]["sent"] == 100
    wait_for(lambda: service.events("py-fork") == 150, 30, "the parent's and the child's events")
    client.close()


def test_what_is_queued_at_interpreter_exit_is_sent(service):
    script = (
        "import sys; from driftwatch_client import Client\n"
        "c = Client(sys.argv[1], api_key=sys.argv[2], flush_interval=60)\n"
        "for i in range(200): c.log({'model': 'py-exit', 'features': {'x': i}, 'prediction': 1})\n"
    )
    subprocess.run([sys.executable, "-c", script, service.url, API_KEY], check=True, timeout=120)
    wait_for(lambda: service.events("py-exit") == 200, 30, "the events sent at exit")


def test_a_service_answering_503_is_backed_off_honouring_retry_after():
    with tempfile.TemporaryDirectory(prefix="driftwatch-pytest-busy-") as tmp:
        outage = Path(tmp, "outage")
        outage.touch()
        port = free_port()
        env = dict(os.environ, DATA_DIR=str(Path(tmp, "data")), PORT=str(port), OUTAGE_FILE=str(outage))
        process = subprocess.Popen([NODE, "--import", "tsx", str(REPO / "test" / "sdk-busy-service.ts")], cwd=str(REPO),
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = process.stdout.readline()
            assert "listening on" in line, line
            busy = Service(str(Path(tmp, "data")), port, {})
            proxy = RecordingProxy(port)
            client = Client(proxy.url, max_batch_items=100, max_concurrency=2, retry_initial=0.01)
            for i in range(2000):
                client.log({"event_id": "b%d" % i, "model": "py-busy", "features": features(i), "prediction": 1})
            wait_for(lambda: any(s == 503 for s, _ in proxy.answers), 60, "a 503")
            start = time.monotonic()
            time.sleep(6)
            outage.unlink()
            end = time.monotonic()
            assert client.flush(120) is True
            answers = [a for a in proxy.answers if a[0] == 503]
            during = [a for a in answers if start <= a[1] <= end]
            # Retry-After: 1 allows about one attempt a second per sender thread (2).
            assert 0 < len(during) <= 16, len(during)
            for i in range(2, len(answers)):
                assert answers[i][1] - answers[i - 2][1] >= 0.95
            stats = client.stats()
            assert stats["events"]["sent"] == 2000 and stats["failing"] == 0
            assert stats["last_error"].startswith("503 DW_BUSY")
            wait_for(lambda: busy.events("py-busy") == 2000, 60, "the journal to reach the store")
            client.close()
            proxy.close()
        finally:
            process.terminate()
            process.wait(60)
