"""Timing a model call and logging it, as a ``with`` block or a decorator."""

import functools
import inspect
import time
import uuid
from typing import Any, Callable, Dict, Optional


def error_type(error: BaseException) -> str:
    """The exception's class name ("TimeoutError", "ValueError"), at most 256 characters."""
    return type(error).__name__[:256] or "Exception"


class Prediction:
    """One prediction being timed: event_id and timestamp fixed at its start,
    latency_ms measured with the monotonic clock until it ends. Set
    ``.prediction`` (and ``.scores``) inside the ``with`` block, or call
    ``.ok()`` / ``.fail()``; it is logged once."""

    def __init__(self, client: Any, model: str, features: Dict[str, Any], event_id: Optional[str] = None,
                 model_version: Optional[str] = None, tags: Optional[Dict[str, str]] = None):
        self._client = client
        self._base: Dict[str, Any] = {"model": model, "features": features}
        if model_version is not None:
            self._base["model_version"] = model_version
        if tags is not None:
            self._base["tags"] = tags
        self.event_id = event_id if event_id is not None else str(uuid.uuid4())
        self.timestamp = int(time.time() * 1000)
        self.prediction: Any = None
        self.scores: Optional[Dict[str, float]] = None
        self._start = time.perf_counter()
        self._done = False

    def ok(self, prediction: Any, scores: Optional[Dict[str, float]] = None) -> str:
        outcome: Dict[str, Any] = {"prediction": prediction}
        if scores is not None:
            outcome["scores"] = scores
        return self._finish(outcome)

    def fail(self, error: Any) -> str:
        """Logs a failed prediction: status "error", error_type the exception's class name (or the string given)."""
        kind = error if isinstance(error, str) else error_type(error)
        return self._finish({"status": "error", "error_type": kind[:256]})

    def _finish(self, outcome: Dict[str, Any]) -> str:
        if self._done:
            return self.event_id
        self._done = True
        latency_ms = (time.perf_counter() - self._start) * 1000.0
        event = {"event_id": self.event_id, "timestamp": self.timestamp, **self._base, **outcome, "latency_ms": latency_ms}
        return self._client.log(event)

    def __enter__(self) -> "Prediction":
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        if exc is not None:
            self.fail(exc)
        else:
            self.ok(self.prediction, self.scores)
        return False  # an exception is raised on


def timed_function(client: Any, model: str, features: Optional[Callable[..., Dict[str, Any]]] = None,
                   prediction: Optional[Callable[[Any], Any]] = None, **fields: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorates a prediction function: each call is timed and logged.

    ``features(*args, **kwargs)`` builds the features from the call (default:
    the first argument, a dict); ``prediction(result)`` the prediction from
    what it returned (default: the result itself). Works for ``async def``
    functions too."""
    def features_of(args: Any, kwargs: Any) -> Dict[str, Any]:
        if features is not None:
            return features(*args, **kwargs)
        return args[0] if args and isinstance(args[0], dict) else {}

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with Prediction(client, model, features_of(args, kwargs), **fields) as p:
                    result = await fn(*args, **kwargs)
                    p.prediction = prediction(result) if prediction else result
                return result
            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with Prediction(client, model, features_of(args, kwargs), **fields) as p:
                result = fn(*args, **kwargs)
                p.prediction = prediction(result) if prediction else result
            return result
        return run
    return decorate
