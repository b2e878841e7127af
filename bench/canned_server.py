"""Pre-rendered CRM pages answered from memory, so a benchmark measures the client, not the server.

A *page set* is what a real client received from a demo server: every (method, request target)
it sent, with the status and body it got, recorded by `Recorder` on the client's own sessions.
`save` writes it (a pickle of the answers and, beside it, a JSON list of the requests in the
order they were sent, for a bare loop to replay); `python bench/canned_server.py PAGES.pickle`
serves it on localhost: a raw-socket HTTP/1.1 server, one thread per keep-alive connection,
answering each request with response bytes built once at start-up (headers included). A request
it does not know gets a 404 and is counted; `GET /_canned/stats` tells the counts.

Bodies may hold `{{BASE_URL}}` (Salesforce's token answer names the instance URL): it becomes
the server's own URL when it starts. Used by bench/salesforce_sync_bench.py.
"""

import argparse
import json
import pickle
import socket
import sys
import threading
from pathlib import Path

BASE_URL = b"{{BASE_URL}}"
STATS_PATH = b"/_canned/stats"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


class Recorder:
    """Records every answer the sessions it is attached to receive: (method, target) → body."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.order: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def attach(self, session) -> None:
        """Record the answers of a `requests.Session`."""
        session.hooks["response"].append(self._hook)

    def add(self, method: str, target: str, status: int, body: bytes) -> None:
        with self._lock:
            key = (method, target)
            if key in self.answers and self.answers[key] != (status, body):
                raise ValueError(f"{method} {target} answered differently twice")
            self.answers[key] = (status, body)
            self.order.append(key)

    def _hook(self, response, *args, **kwargs):
        request = response.request
        self.add(request.method, request.path_url, response.status_code, response.content)
        return response


def save(recorder: Recorder, path: Path, headers: dict[str, str], meta: dict) -> None:
    """Write the page set to `path` and its request order to `path` + `.order.json`."""
    payload = {"headers": headers, "meta": meta, "answers": recorder.answers}
    with path.open("wb") as out:
        pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
    order = {"meta": meta, "requests": recorder.order}
    order_path(path).write_text(json.dumps(order))


def order_path(path: Path) -> Path:
    return path.with_name(path.name + ".order.json")


def load_order(path: Path) -> tuple[dict, list[tuple[str, str]]]:
    """The page set's metadata and its requests in the order the recorded client sent them."""
    order = json.loads(order_path(path).read_text())
    return order["meta"], [tuple(r) for r in order["requests"]]


def _response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


class CannedServer:
    """Answers recorded requests with prebuilt bytes; `serve_forever` blocks."""

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.listener = socket.create_server((host, port), backlog=64)
        self.url = f"http://{host}:{self.listener.getsockname()[1]}"
        with path.open("rb") as f:
            payload = pickle.load(f)
        headers = {"Content-Type": "application/json;charset=UTF-8", **payload["headers"]}
        base = self.url.encode()
        self.responses: dict[tuple[bytes, bytes], bytes] = {}
        for (method, target), (status, body) in payload.pop("answers").items():
            if BASE_URL in body:
                body = body.replace(BASE_URL, base)
            self.responses[method.encode(), target.encode()] = _response(status, body, headers)
        self.answered = 0
        self.unknown: list[str] = []
        self._lock = threading.Lock()

    def serve_forever(self) -> None:
        while True:
            connection, _address = self.listener.accept()
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        responses, buffer = self.responses, b""
        with connection:
            while True:
                end = buffer.find(b"\r\n\r\n")
                while end < 0:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                    end = buffer.find(b"\r\n\r\n")
                head, buffer = buffer[:end], buffer[end + 4 :]
                lines = head.split(b"\r\n")
                method, target, _version = lines[0].split(b" ", 2)
                length = 0
                for line in lines[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                while len(buffer) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                buffer = buffer[length:]
                response = responses.get((method, target))
                if response is None:
                    response = self._other(method, target)
                else:
                    self.answered += 1  # one writer per connection; a lost count is harmless
                connection.sendall(response)

    def _other(self, method: bytes, target: bytes) -> bytes:
        if target == STATS_PATH:
            stats = {"answered": self.answered, "unknown": self.unknown[-20:]}
            stats["unknown_count"] = len(self.unknown)
            return _response(200, json.dumps(stats).encode(), {})
        with self._lock:
            self.unknown.append(f"{method.decode()} {target.decode()}")
        body = json.dumps([{"errorCode": "NOT_FOUND", "message": "not in the page set"}]).encode()
        return _response(404, body, {"Content-Type": "application/json"})


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a recorded page set from memory.")
    parser.add_argument("pages", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = CannedServer(args.pages, port=args.port)
    print(server.url, flush=True)  # the caller waits for this line
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
