"""POST batches to driftwatch over HTTP: NDJSON, gzip-compressed, one kept-alive connection per sender thread."""

import gzip
import http.client
import json
import ssl
from typing import Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from ._backoff import parse_retry_after


class Result(NamedTuple):
    """What became of one batch: 'sent' (rejected: the items refused, by index),
    'retry' (nothing kept: send again later) or 'refused' (refused whole: never again)."""
    kind: str
    reason: str = ""
    rejected: Tuple[Tuple[int, str], ...] = ()
    retry_after: Optional[float] = None
    status: Optional[int] = None


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _describe(status: int, body: bytes) -> str:
    try:
        err = json.loads(body)
        if isinstance(err, dict) and err.get("message"):
            code = " " + err["code"] if err.get("code") else ""
            return "%d%s: %s" % (status, code, err["message"])
    except ValueError:
        pass
    return "%d: %s" % (status, body[:200].decode("utf-8", "replace"))


class HttpTransport:
    """One per sender thread (http.client connections are not thread-safe)."""

    def __init__(self, url: str, api_key: Optional[str], timeout: float, gzip_level: int):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http://host:port or https://host:port (got %r)" % url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._level = gzip_level
        self._headers: Dict[str, str] = {
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
            "User-Agent": "driftwatch-client-python/0.1.0",
        }
        if api_key:
            self._headers["Authorization"] = "Bearer " + api_key
        self._conn: Optional[http.client.HTTPConnection] = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def send(self, stream: str, lines: List[str]) -> Result:
        body = gzip.compress("\n".join(lines).encode("utf-8"), compresslevel=self._level)
        try:
            conn = self._connection()
            conn.request("POST", "%s/v1/%s" % (self._prefix, stream), body=body, headers=self._headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            return Result("retry", reason="%s: %s" % (type(err).__name__, err))
        if response.getheader("connection", "").lower() == "close":
            self.close()
        if 200 <= response.status < 300:
            try:
                answer = json.loads(data)
                rejected = tuple((int(r["index"]), str(r["reason"])) for r in answer.get("rejected", []))
            except (ValueError, KeyError, TypeError, AttributeError):
                rejected = ()
            return Result("sent", rejected=rejected)
        reason = _describe(response.status, data)
        if _retryable(response.status):
            return Result("retry", reason=reason, retry_after=parse_retry_after(response.getheader("retry-after")))
        return Result("refused", reason=reason, status=response.status)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
