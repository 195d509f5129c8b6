"""The client: queue in the caller's thread, send from background threads."""

import atexit
import json
import os
import threading
import time
import uuid
import weakref
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from ._backoff import backoff_seconds
from ._timing import Prediction, timed_function
from ._transport import HttpTransport, Result

STREAMS = ("events", "labels")
DROP_REASONS = ("queue_full", "closed", "close_timeout", "unserializable")

# An item: its event_id (for drop reports), its JSON, and when it was queued (monotonic seconds).
Item = Tuple[str, str, float]

# Every live client, for the fork and exit hooks (weak: a client no one holds may go).
_live: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _callback(fn: Optional[Callable[[Dict[str, Any]], None]], arg: Dict[str, Any]) -> None:
    """A user's callback that raises must not break the client, nor the service it runs in."""
    if fn is None:
        return
    try:
        fn(arg)
    except Exception:  # noqa: BLE001 - the callback's own bug; the counters still say what happened
        pass


class Client:
    """Sends prediction events and labels to driftwatch.

    ``log()`` and ``label()`` serialise the item and queue it, under a lock
    held for a deque append; background threads send batches (by count,
    by time and by bytes, gzip NDJSON), retry 503s and network errors with
    back-off (at least the Retry-After), report what the service refuses
    to ``on_rejected`` and never retry it, and count what the client gives
    up (a full queue, a close out of time) and report it to ``on_dropped``.
    Fork-safe: a child process starts with an empty queue and threads of
    its own. At interpreter exit, what is queued is sent within
    ``close_timeout`` seconds.
    """

    def __init__(self, url: str, api_key: Optional[str] = None, *,
                 max_batch_items: int = 500,
                 flush_interval: float = 1.0,
                 max_batch_bytes: int = 4 * 1024 * 1024,
                 max_queue_items: int = 100_000,
                 overflow: str = "drop_oldest",
                 max_concurrency: int = 2,
                 request_timeout: float = 10.0,
                 retry_initial: float = 0.2,
                 retry_max: float = 10.0,
                 gzip_level: int = 1,
                 close_timeout: float = 10.0,
                 on_rejected: Optional[Callable[[Dict[str, Any]], None]] = None,
                 on_dropped: Optional[Callable[[Dict[str, Any]], None]] = None,
                 on_retry: Optional[Callable[[Dict[str, Any]], None]] = None):
        for name, value in (("max_batch_items", max_batch_items), ("max_batch_bytes", max_batch_bytes),
                            ("max_queue_items", max_queue_items), ("max_concurrency", max_concurrency)):
            if not isinstance(value, int) or value < 1:
                raise ValueError("%s must be a positive integer (got %r)" % (name, value))
        if overflow not in ("drop_oldest", "drop_newest"):
            raise ValueError("overflow must be 'drop_oldest' or 'drop_newest' (got %r)" % (overflow,))
        if not 1 <= gzip_level <= 9:
            raise ValueError("gzip_level must be 1 to 9 (got %r)" % (gzip_level,))
        self._url = url
        self._api_key = api_key
        self._max_batch_items = max_batch_items
        self._flush_interval = flush_interval
        self._max_batch_bytes = max_batch_bytes
        self._max_queue_items = max_queue_items
        self._overflow = overflow
        self._max_concurrency = max_concurrency
        self._request_timeout = request_timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._gzip_level = gzip_level
        self._close_timeout = close_timeout
        self._on_rejected = on_rejected
        self._on_dropped = on_dropped
        self._on_retry = on_retry
        HttpTransport(url, api_key, request_timeout, gzip_level)  # checks the url now, not in a thread
        self._reset()
        _live.add(self)

    # -- the surface --------------------------------------------------------

    def log(self, event: Dict[str, Any]) -> str:
        """Queues a prediction event; returns its event_id (generated when absent). Never raises, never waits."""
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if event_id is None or "timestamp" not in event:
            event = dict(event) if isinstance(event, dict) else {"event": event}
            event_id = event.setdefault("event_id", str(uuid.uuid4()))
            event.setdefault("timestamp", int(time.time() * 1000))
        self._enqueue("events", str(event_id), event)
        return str(event_id)

    def label(self, event_id: str, model: str, label: Any, timestamp: Any = None) -> None:
        """Queues the ground truth for an earlier event. Never raises, never waits."""
        item: Dict[str, Any] = {"event_id": event_id, "model": model, "label": label}
        if timestamp is not None:
            item["timestamp"] = timestamp
        self._enqueue("labels", str(event_id), item)

    def flush(self, timeout: float = 10.0) -> bool:
        """Sends everything queued now and waits for it, up to ``timeout`` seconds; True when nothing is left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._draining += 1
            self._cond.notify_all()
            try:
                while not self._idle():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._draining -= 1

    def close(self, timeout: Optional[float] = None) -> bool:
        """Stops taking items, sends what is queued within ``timeout`` (default close_timeout), then gives
        up on the rest, counted as dropped (close_timeout). True when everything was sent."""
        with self._cond:
            if self._closed:
                return self._idle()
            self._closed = True
        done = self.flush(self._close_timeout if timeout is None else timeout)
        lost: List[Tuple[str, List[Item]]] = []
        with self._cond:
            self._stop = True
            for stream in STREAMS:
                queue = self._queues[stream]
                if queue:
                    lost.append((stream, list(queue)))
                    self._counts[stream]["dropped"]["close_timeout"] += len(queue)
                    queue.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        for stream, items in lost:
            _callback(self._on_dropped, {"stream": stream, "reason": "close_timeout", "ids": [i[0] for i in items]})
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(0.1)
        return done

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            out: Dict[str, Any] = {}
            for stream in STREAMS:
                c = self._counts[stream]
                out[stream] = {"queued": len(self._queues[stream]), "in_flight": self._in_flight[stream],
                               "sent": c["sent"], "rejected": c["rejected"], "dropped": dict(c["dropped"])}
            out.update(retries=self._retries, failing=self._failing, last_error=self._last_error)
            return out

    def timed(self, model: str, features: Dict[str, Any], **fields: Any) -> Prediction:
        """``with client.timed(model, features) as p: p.prediction = predict(x)`` logs the call with its latency;
        an exception inside is logged as a failed prediction (status "error") and raised on."""
        return Prediction(self, model, features, **fields)

    def timed_function(self, model: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator: every call of the function is timed and logged (see ``driftwatch_client.timed_function``)."""
        return timed_function(self, model, **options)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- inside --------------------------------------------------------------

    def _reset(self) -> None:
        """Fresh state and threads, in a new client or in the child of a fork."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queues: Dict[str, Deque[Item]] = {s: deque() for s in STREAMS}
        self._counts = {s: {"sent": 0, "rejected": 0, "dropped": {r: 0 for r in DROP_REASONS}} for s in STREAMS}
        self._in_flight = {s: 0 for s in STREAMS}
        self._draining = 0
        self._closed = getattr(self, "_closed", False)
        self._stop = self._closed
        self._resume_at = 0.0
        self._failing = 0
        self._retries = 0
        self._last_error: Optional[str] = None
        self._threads: List[threading.Thread] = []
        self._pid = os.getpid()

    def _start_threads(self) -> None:
        """Started on the first item (lock held), so that a fork before then has nothing to restart."""
        for n in range(self._max_concurrency):
            thread = threading.Thread(target=self._run, name="driftwatch-client-%d" % n, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _enqueue(self, stream: str, event_id: str, item: Dict[str, Any]) -> None:
        try:
            line = json.dumps(item, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return self._drop(stream, "unserializable", [event_id])
        lost: Optional[Item] = None
        with self._cond:
            if self._closed:
                lost = (event_id, "", 0.0)
                reason = "closed"
            else:
                queue = self._queues[stream]
                queue.append((event_id, line, time.monotonic()))
                if len(queue) > self._max_queue_items:
                    lost = queue.popleft() if self._overflow == "drop_oldest" else queue.pop()
                    reason = "queue_full"
                if not self._threads:
                    self._start_threads()
                if len(queue) == self._max_batch_items or len(queue) == 1:
                    self._cond.notify()
        if lost is not None:
            self._drop(stream, reason, [lost[0]])

    def _drop(self, stream: str, reason: str, ids: List[str]) -> None:
        with self._lock:
            self._counts[stream]["dropped"][reason] += len(ids)
        _callback(self._on_dropped, {"stream": stream, "reason": reason, "ids": ids})

    def _idle(self) -> bool:
        return not any(self._queues.values()) and not any(self._in_flight.values())

    def _due(self, now: float) -> Optional[str]:
        """The stream with a batch to send now (lock held), or None."""
        if now < self._resume_at:
            return None
        for stream in STREAMS:
            queue = self._queues[stream]
            if queue and (len(queue) >= self._max_batch_items or self._draining or self._closed
                          or now - queue[0][2] >= self._flush_interval):
                return stream
        return None

    def _take(self, stream: str) -> List[Item]:
        queue = self._queues[stream]
        items: List[Item] = []
        size = 0
        while queue and len(items) < self._max_batch_items:
            if items and size + len(queue[0][1]) > self._max_batch_bytes:
                break
            item = queue.popleft()
            size += len(item[1]) + 1
            items.append(item)
        self._in_flight[stream] += len(items)
        return items

    def _next_wake(self, now: float) -> float:
        """How long a sender may sleep (lock held): until the back-off ends or the oldest item is due."""
        wake = 60.0
        if self._resume_at > now:
            wake = self._resume_at - now
        for queue in self._queues.values():
            if queue:
                wake = min(wake, max(0.001, queue[0][2] + self._flush_interval - now))
        return wake

    def _run(self) -> None:
        transport = HttpTransport(self._url, self._api_key, self._request_timeout, self._gzip_level)
        pid = self._pid
        try:
            while True:
                with self._cond:
                    while True:
                        if self._stop or os.getpid() != pid:
                            return
                        now = time.monotonic()
                        stream = self._due(now)
                        if stream is not None:
                            items = self._take(stream)
                            break
                        self._cond.wait(self._next_wake(now))
                self._send(transport, stream, items)
        finally:
            transport.close()

    def _send(self, transport: HttpTransport, stream: str, items: List[Item]) -> None:
        """One batch until it is settled: answered, refused, or given up at close."""
        lines = [i[1] for i in items]
        while True:
            with self._cond:
                while not self._stop and time.monotonic() < self._resume_at:
                    self._cond.wait(self._resume_at - time.monotonic())
                if self._stop:
                    self._in_flight[stream] -= len(items)
                    self._counts[stream]["dropped"]["close_timeout"] += len(items)
                    self._cond.notify_all()
                    break
            try:
                result = transport.send(stream, lines)
            except Exception as err:  # noqa: BLE001 - whatever it was, the batch is kept and tried again
                result = Result("retry", reason="%s: %s" % (type(err).__name__, err))
            if result.kind == "retry":
                with self._cond:
                    self._failing += 1
                    self._retries += 1
                    self._last_error = result.reason
                    delay = backoff_seconds(self._failing, self._retry_initial, self._retry_max, result.retry_after)
                    self._resume_at = max(self._resume_at, time.monotonic() + delay)
                _callback(self._on_retry, {"stream": stream, "reason": result.reason, "delay": delay})
                continue
            rejected = result.rejected if result.kind == "sent" else tuple((i, result.reason) for i in range(len(items)))
            with self._cond:
                self._failing = 0
                self._in_flight[stream] -= len(items)
                self._counts[stream]["rejected"] += len(rejected)
                self._counts[stream]["sent"] += len(items) - len(rejected)
                self._cond.notify_all()
            for index, reason in rejected:
                if 0 <= index < len(items):
                    rejection: Dict[str, Any] = {"stream": stream, "item": json.loads(lines[index]), "reason": reason}
                    if result.status is not None:
                        rejection["status"] = result.status
                    _callback(self._on_rejected, rejection)
            return
        _callback(self._on_dropped, {"stream": stream, "reason": "close_timeout", "ids": [i[0] for i in items]})


def _before_fork() -> None:
    # Hold every client's lock across fork(), so that the child never inherits one
    # taken by a sender thread that does not exist there.
    for client in list(_live):
        client._lock.acquire()


def _after_fork_parent() -> None:
    for client in list(_live):
        client._lock.release()


def _after_fork_child() -> None:
    # The parent keeps sending what was queued before the fork; the child starts
    # empty, with new locks, and starts threads of its own at its first item.
    for client in list(_live):
        client._reset()


def _close_all() -> None:
    for client in list(_live):
        if client._pid == os.getpid():
            client.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child)
atexit.register(_close_all)
