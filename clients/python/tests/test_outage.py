"""Issue 20 item 3: 100,000 events sent while the service is stopped for 10 s
and started again arrive exactly once by event_id, or are counted as
dropped by the overflow policy; never lost silently."""

import tempfile
import threading
import time

from conftest import Service, free_port, wait_for
from driftwatch_client import Client

TOTAL = 100_000
PER_TICK = 500
TICK = 0.1  # 5,000 events a second per client: 20 s of sending


def test_100000_events_across_a_stop_and_restart_arrive_once_or_are_counted_dropped():
    with tempfile.TemporaryDirectory(prefix="driftwatch-pytest-outage-") as data_dir:
        service = Service(data_dir, free_port(), {})
        service.start()
        keeps = Client(service.url, max_queue_items=TOTAL)
        drops = []
        dropping = Client(service.url, max_queue_items=5_000, overflow="drop_oldest", on_dropped=drops.append)
        now = int(time.time() * 1000)
        sent = [0]

        def send():
            while sent[0] < TOTAL:
                for i in range(sent[0], sent[0] + PER_TICK):
                    event = {"timestamp": now + i % 60_000, "features": {"x": i % 97, "c": "a" if i % 2 else "b"}, "prediction": i % 2}
                    keeps.log(dict(event, event_id="k%d" % i, model="py-outage-keep"))
                    dropping.log(dict(event, event_id="d%d" % i, model="py-outage-drop"))
                sent[0] += PER_TICK
                time.sleep(TICK)

        sender = threading.Thread(target=send)
        sender.start()
        try:
            wait_for(lambda: sent[0] >= 15_000, 60, "the first 15,000 events")
            assert service.stop() == 0
            stopped_at = sent[0]
            time.sleep(10)
            assert sent[0] > stopped_at  # the clients took events all through the outage
            assert keeps.stats()["retries"] > 0
            service.start()
            sender.join()
            assert keeps.flush(240) is True
            assert dropping.flush(240) is True
            kept = keeps.stats()["events"]
            assert kept["sent"] == TOTAL and kept["rejected"] == 0 and kept["dropped"]["queue_full"] == 0
            dropped = [i for d in drops for i in d["ids"]]
            left = dropping.stats()["events"]
            assert len(dropped) > 0 and left["dropped"]["queue_full"] == len(dropped)
            assert left["sent"] + len(dropped) == TOTAL
            assert len(set(dropped)) == len(dropped)
            # Stored exactly once each (the count is of distinct event_ids, FINAL): all of
            # one client's, and of the other's exactly those it did not report dropped.
            wait_for(lambda: service.events("py-outage-keep") == TOTAL, 120, "all kept events in the store")
            wait_for(lambda: service.events("py-outage-drop") == TOTAL - len(dropped), 120, "the undropped events in the store")
            time.sleep(1)
            assert service.events("py-outage-keep") == TOTAL
            assert service.events("py-outage-drop") == TOTAL - len(dropped)
            keeps.close()
            dropping.close()
        finally:
            sent[0] = TOTAL
            sender.join()
            if service.process.poll() is None:
                service.stop()
