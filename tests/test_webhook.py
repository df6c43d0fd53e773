"""The webhook event sink against a local http.server: JSON POSTs in order, back-off, queued while the
receiver is away (a restart of edge too), a refused event dropped with one line."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from edge.errors import UsageError
from edge.events.queue import QueueOptions
from edge.events.webhook import WebhookOptions, WebhookSink, outcome
from localnet import free_port, wait_for


class Receiver:
    """An HTTP server on 127.0.0.1:port answering POSTs with ``statuses`` in turn (then 200)."""

    def __init__(self, port=None, statuses=()):
        self.port, self.statuses, self.posts = port or free_port(), list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.posts.append((time.monotonic(), status, dict(self.headers), json.loads(body.decode())))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:{}/hook".format(self.port)

    def delivered(self):
        return [body for _, status, _, body in self.posts if 200 <= status < 300]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def make_sink(tmp_path, url, echo=None, **options):
    return WebhookSink(WebhookOptions(url=url, **options), QueueOptions(folder=str(tmp_path / "q")), echo=echo,
                       initial_delay=0.05)


@pytest.mark.parametrize("status,want", [(200, "delivered"), (204, "delivered"), (None, "retry"), (500, "retry"),
                                         (503, "retry"), (429, "retry"), (408, "retry"), (400, "rejected"),
                                         (404, "rejected"), (301, "retry")])
def test_outcome(status, want):
    assert outcome(status) == want


@pytest.mark.parametrize("url", ["ftp://h/x", "h:80", "http://"])
def test_bad_url(url):
    with pytest.raises(UsageError, match="--webhook"):
        WebhookOptions(url=url)


def test_events_posted_in_order_as_json(receiver, tmp_path):
    sink = make_sink(tmp_path, receiver.url, token="s3cret")
    for n in range(10):
        sink.publish({"type": "person", "track_id": n}, b"jpeg")
    wait_for(lambda: len(receiver.delivered()) == 10, what="10 POSTs")
    assert [b["track_id"] for b in receiver.delivered()] == list(range(10))
    assert [b["seq"] for b in receiver.delivered()] == list(range(1, 11))
    headers = receiver.posts[0][2]
    assert headers["Content-Type"] == "application/json" and headers["Authorization"] == "Bearer s3cret"
    sink.close()


def test_failures_retried_with_back_off_said_once(tmp_path):
    receiver = Receiver(statuses=[503, 503, 503, 500])
    said = []
    sink = make_sink(tmp_path, receiver.url, echo=said.append)
    sink.publish({"n": 0}, None)
    sink.publish({"n": 1}, None)
    wait_for(lambda: len(receiver.delivered()) == 2, what="delivery after the failures")
    assert [b["n"] for b in receiver.delivered()] == [0, 1]
    times = [t for t, _, _, _ in receiver.posts]
    gaps = [b - a for a, b in zip(times, times[1:4])]
    assert gaps[0] >= 0.04 and gaps[1] >= 1.6 * gaps[0] and gaps[2] >= 1.6 * gaps[1], gaps  # 0.05, 0.1, 0.2 s
    assert len(said) == 1 and "HTTP 503" in said[0]
    sink.close()
    receiver.close()


def test_receiver_away_queued_on_disk_then_delivered_by_the_next_run(tmp_path):
    port = free_port()
    said = []
    first = make_sink(tmp_path, "http://127.0.0.1:{}/hook".format(port), echo=said.append)
    for n in range(3):
        first.publish({"n": n}, None)
    wait_for(lambda: said, what="the failure line")
    first.close(0)
    assert len(said) == 1 and "failed" in said[0]
    receiver = Receiver(port)
    second = make_sink(tmp_path, receiver.url)
    second.publish({"n": 3}, None)
    wait_for(lambda: len(receiver.delivered()) == 4, what="the queued events")
    assert [b["n"] for b in receiver.delivered()] == [0, 1, 2, 3]
    second.close()
    receiver.close()


def test_a_refused_event_is_dropped_with_one_line(tmp_path, caplog):
    receiver = Receiver(statuses=[400])
    sink = make_sink(tmp_path, receiver.url)
    sink.publish({"n": 0}, None)
    sink.publish({"n": 1}, None)
    wait_for(lambda: len(receiver.delivered()) == 1, what="the next event")
    assert receiver.delivered() == [{"n": 1, "seq": 2}] and sink.rejected == 1
    assert caplog.text.count("refused event 1 (HTTP 400 Bad Request): dropped") == 1
    sink.close()
    receiver.close()


def test_a_receiver_that_answers_garbage_is_retried(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    answers = [b"NOT HTTP\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]
    requests = []

    def serve():  # the first request gets garbage, the second a 200
        for answer in answers:
            conn, _ = listener.accept()
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                data += conn.recv(65536)
            requests.append(data)
            conn.sendall(answer)
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    said = []
    sink = make_sink(tmp_path, "http://127.0.0.1:{}/hook".format(listener.getsockname()[1]), echo=said.append)
    sink.publish({"n": 0}, None)
    wait_for(lambda: len(requests) == 2 and len(sink.queue) == 0, what="the retried event")
    assert requests[1].endswith(b'{"n": 0, "seq": 1}') and len(said) == 1 and "NOT HTTP" in said[0], said
    sink.close()
    listener.close()
