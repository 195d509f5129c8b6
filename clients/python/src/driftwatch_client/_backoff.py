"""Back-off between attempts, and the service's Retry-After."""

import random
import time
from email.utils import parsedate_to_datetime
from typing import Callable, Optional


def backoff_seconds(failures: int, initial: float, maximum: float, retry_after: Optional[float],
                    rand: Callable[[], float] = random.random) -> float:
    """Exponential (initial * 2^(failures-1), capped) with equal jitter: half
    fixed, half random, so that senders restarted together do not come back
    in step while each still waits longer after each failure. A Retry-After
    is a floor."""
    ceiling = min(maximum, initial * 2 ** min(30, max(0, failures - 1)))
    jittered = ceiling / 2 + rand() * ceiling / 2
    return max(jittered, retry_after or 0.0)


def parse_retry_after(header: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Retry-After (RFC 9110): delay-seconds or an HTTP date, in seconds; None when absent or unreadable."""
    if header is None:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, at - (time.time() if now is None else now))
