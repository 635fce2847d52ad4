"""The webhook sink: one JSON POST per result.

Every try of one result carries the same ``Idempotency-Key`` header, so the receiver can drop
repeats: halfrate retries what did not get a 2xx, and a 2xx lost on the way back means a repeat
the receiver has already seen. With ``HALFRATE_WEBHOOK_SECRET`` set (read when the sink is
opened), each POST is signed: ``X-Halfrate-Signature: sha256=<hex HMAC-SHA256 of the body, keyed
by the secret>``, so a receiver can tell halfrate's deliveries from anyone else's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx2
import orjson

from halfrate.errors import PayloadError
from halfrate.sinks.addresses import refused_host, safe_url
from halfrate.sinks.base import DeliveryReport, Outgoing, one_line, to_result, unique_items
from halfrate.sinks.spec import SinkSpec, resolve_webhook_url

SECRET_VARIABLE = "HALFRATE_WEBHOOK_SECRET"
TIMEOUT_SECONDS = 5.0
MAX_WORKERS = 8  # enough to hide a receiver's latency without flooding it
DRAIN_BYTES = 64 * 1024  # read this much of a reply so its connection can be reused, no more
_QUERY = re.compile(r"\?\S*")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Halfrate-Signature`` value for ``body``; receivers compute the same and compare
    with ``hmac.compare_digest``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def webhook_body(item: Outgoing) -> bytes:
    """The JSON a receiver gets: the result with the response and error as objects."""
    result = to_result(item)
    return orjson.dumps(
        {
            "key": item.key,
            "job_id": item.job_id,
            "status": item.status,
            "status_code": item.status_code,
            "response": result.response,
            "error": result.error,
        }
    )


class WebhookSink:
    """POSTs each result to one URL, a few at a time."""

    def __init__(
        self, spec: SinkSpec, *, timeout: float = TIMEOUT_SECONDS, workers: int = MAX_WORKERS
    ) -> None:
        self.spec = spec
        self._url = resolve_webhook_url(spec)  # from its variable, for webhook:env:NAME
        self._shown = safe_url(self._url)
        self._timeout = timeout
        self._workers = max(1, min(workers, MAX_WORKERS))
        secret = os.environ.get(SECRET_VARIABLE)
        self._secret = secret.encode("utf-8") if secret else None
        self._down: str | None = None  # why the receiver is not answering, in this chunk
        self._client = httpx2.Client(
            timeout=timeout,
            # A redirect is the receiver's configuration problem; following it would send the
            # results (and the signature) somewhere the spec does not name.
            follow_redirects=False,
            limits=httpx2.Limits(
                max_connections=self._workers, max_keepalive_connections=self._workers
            ),
            headers={"User-Agent": "halfrate"},
        )

    def deliver(self, items: Sequence[Outgoing], cursor: str | None) -> DeliveryReport:
        items = unique_items(items)
        refused = refused_host(self._url)  # asked before each chunk: DNS answers change
        if refused is not None:
            return DeliveryReport.all_failed(items, f"not sent to {self._shown}: {refused}", cursor)
        report = DeliveryReport(cursor=cursor)
        # A receiver that does not answer (a timeout, a refused or dropped connection) is not
        # sent the rest of this chunk: a hanging one would hold the pass for every item's
        # timeout. Those wait for the next try, like the ones that failed.
        self._down = None
        if len(items) <= 1:
            outcomes = [self._post(item) for item in items]
        else:
            with ThreadPoolExecutor(
                max_workers=min(self._workers, len(items)), thread_name_prefix="halfrate-webhook"
            ) as pool:
                outcomes = list(pool.map(self._post, items))
        for item, reason in zip(items, outcomes, strict=True):
            if reason is None:
                report.delivered.append(item.idempotency_key)
            else:
                report.failed[item.idempotency_key] = reason
        return report

    def close(self) -> None:
        self._client.close()

    def _post(self, item: Outgoing) -> str | None:
        """POST one item: None when the receiver took it (2xx), else the reason."""
        down = self._down
        if down is not None:
            return f"not sent: the receiver did not answer the one before ({down})"
        try:
            body = webhook_body(item)
        except PayloadError as exc:
            return one_line(f"{item.key}: {exc}")
        headers = {"Content-Type": "application/json", "Idempotency-Key": item.idempotency_key}
        if self._secret is not None:
            headers["X-Halfrate-Signature"] = sign(self._secret, body)
        try:
            with self._client.stream("POST", self._url, content=body, headers=headers) as reply:
                status = reply.status_code
                _drain(reply)
        except httpx2.TimeoutException:
            self._down = f"timed out after {self._timeout:g} s posting to {self._shown}"
            return self._down
        except (httpx2.TransportError, httpx2.StreamError) as exc:
            self._down = one_line(
                f"cannot post to {self._shown}: {type(exc).__name__}: {self._scrub(exc)}"
            )
            return self._down
        except (httpx2.HTTPError, httpx2.InvalidURL, ValueError) as exc:
            # ValueError: a header value httpx2 cannot encode (an odd idempotency key).
            return one_line(
                f"cannot post to {self._shown}: {type(exc).__name__}: {self._scrub(exc)}"
            )
        if 200 <= status < 300:
            return None
        return f"HTTP {status} from {self._shown}"

    def _scrub(self, exc: Exception) -> str:
        text = str(exc).replace(self._url, self._shown)
        return _QUERY.sub("", text) or "no detail"


def _drain(reply: httpx2.Response) -> None:
    """Read a little of the reply so its connection can serve the next POST. The status line is
    the answer, so a reply body that breaks off changes nothing."""
    drained = 0
    try:
        for chunk in reply.iter_raw():
            drained += len(chunk)
            if drained >= DRAIN_BYTES:
                return
    except httpx2.HTTPError:
        return
