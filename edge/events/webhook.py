"""Webhook event sink: each event POSTed as JSON, in order, retried with back-off, queued on disk meanwhile.

    sink = WebhookSink(WebhookOptions(url="https://example.com/edge"), QueueOptions())
    sink.publish(event, jpeg)   # → the disk queue → POST {"type": "person", ..., "seq": 12} (the JPEG is not sent)
    sink.close()                # delivers what it can within a moment; the rest stays queued for the next run

A 2xx answer delivers an event. A 4xx but 408/429 means the receiver will never take it: it is dropped with
one log line (counted in ``rejected``) so one bad event does not block the rest. Anything else (no answer,
5xx, 408, 429) is retried with back-off (``edge.sources.backoff``), said once per outage.
"""
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from edge.config import setting
from edge.errors import UsageError
from edge.events.queue import QueueOptions
from edge.sources.backoff import backoff_delay

log = logging.getLogger("edge.events.webhook")
RETRIED_4XX = (408, 429)


@dataclass
class WebhookOptions:
    """``edge run --webhook URL``: where to POST events."""

    url: str = setting("", "--webhook", "POST each event as JSON to this http(s) URL, in order; retried with "
                                        "back-off and queued on disk while the receiver is unreachable.")
    token: str = setting("", "--webhook-token", "Sent as 'Authorization: Bearer TOKEN' (or "
                                                "$EDGE_WEBHOOK_TOKEN).", secret=True, envvar="EDGE_WEBHOOK_TOKEN")
    timeout: float = setting(5.0, "--webhook-timeout", "Seconds to wait for the receiver's answer to a POST.")
    max_delay: float = setting(60.0, "--webhook-max-delay", "Longest wait between retries of a failed POST "
                                                            "(seconds).")

    def __post_init__(self):
        from edge.config import check_fields

        check_fields(self, [(0 < self.timeout <= 3600, "timeout", "0 < seconds ≤ 3600"),
                            (0 < self.max_delay <= 86400, "max_delay", "0 < seconds ≤ 86400")], "webhook.")
        if self.url:
            check_url(self.url)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError("--webhook: expected an http:// or https:// URL, found {!r}".format(url))
    return url


def outcome(status: Optional[int]) -> str:
    """What an answer means (pure): "delivered", "rejected" (never retried) or "retry" (None: no answer)."""
    if status is not None and 200 <= status < 300:
        return "delivered"
    if status is not None and 400 <= status < 500 and status not in RETRIED_4XX:
        return "rejected"
    return "retry"


def post_json(url: str, body: bytes, token: str = "", timeout: float = 5.0) -> Tuple[Optional[int], str]:
    """POST ``body`` (JSON); (HTTP status or None when there was no answer, why in words)."""
    import http.client
    import urllib.error
    import urllib.request

    from edge import __version__

    headers = {"Content-Type": "application/json", "User-Agent": "edge/" + __version__}
    if token:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return answer.status, "HTTP {}".format(answer.status)
    except urllib.error.HTTPError as e:
        return e.code, "HTTP {} {}".format(e.code, e.reason)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts, resets, bad answers
        return None, str(getattr(e, "reason", None) or e)


class WebhookSink:
    """An event sink POSTing to a URL; a background thread delivers the disk queue in order."""

    def __init__(self, options: WebhookOptions, queue: Optional[QueueOptions] = None, echo=None,
                 initial_delay: float = 0.5):
        self.options, self.url = options, check_url(options.url)
        self.queue = (queue or QueueOptions()).open("webhook")
        self.rejected = 0
        self._echo = echo or log.warning
        self._initial = initial_delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._deliver, name="edge-webhook", daemon=True)
        self._thread.start()

    def publish(self, event: Dict[str, Any], snapshot: Optional[bytes] = None) -> None:
        self.queue.put(event)
        self._idle.clear()
        self._wake.set()

    def stats(self, stats: Dict[str, Any]) -> None:
        """Stats are not POSTed (they would be a request every few seconds): events only."""

    def close(self, drain_s: float = 2.0) -> None:
        """Deliver what is queued for up to ``drain_s`` seconds; the rest stays on disk for the next run."""
        deadline = time.monotonic() + drain_s
        while len(self.queue) and time.monotonic() < deadline and not self._idle.is_set():
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        self._thread.join(self.options.timeout + 1)
        self.queue.close()

    def _deliver(self) -> None:
        failures, said = 0, False
        while not self._stop.is_set():
            batch = self.queue.peek(1)
            if not batch:
                self._idle.set()
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            seq, event = batch[0]
            body = json.dumps(dict(event, seq=seq), sort_keys=True).encode()
            status, why = post_json(self.url, body, self.options.token, self.options.timeout)
            result = outcome(status)
            if result == "retry":
                failures += 1
                if not said:
                    said = True
                    self._echo("webhook: {} failed ({}); events are queued on disk ({}) and retried".format(
                        self.url, why, self.queue.folder))
                self._stop.wait(backoff_delay(failures, self._initial, 2.0, self.options.max_delay))
                continue
            if said:
                log.info("webhook: %s answers again (%d queued events to deliver)", self.url, len(self.queue))
            failures, said = 0, False
            if result == "rejected":
                self.rejected += 1
                log.warning("webhook: %s refused event %d (%s): dropped", self.url, seq, why)
            self.queue.ack(seq)
