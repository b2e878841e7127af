"""What every demo CRM server shares: a quiet threaded HTTP server on a background thread.

Both look-alikes (hubspot/, salesforce/) listen the same way: `start`/`stop`, a context manager,
`url` and `port`, and the open connections tracked so `stop` (or a fault) can cut them.
"""

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import SplitResult, urlsplit


class QuietHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-answer (timeouts, tests) are routine, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class Connections:
    """The open client connections, so they can all be cut at once."""

    def __init__(self) -> None:
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, connection: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def drop_all(self) -> None:
        """Shut down every open connection, idle keep-alive ones included."""
        with self._lock:
            for connection in list(self._open):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class BackgroundServer:
    """Serves `handler` on a background thread; subclasses call `listen` in their __init__."""

    thread_name = "demo-crm"

    def listen(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = QuietHttpServer((host, port), handler)
        self._httpd.demo = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    def drop_connections(self) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            # A short poll interval makes stop() quick; tests start and stop many servers.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name=self.thread_name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        # Idle keep-alive connections would otherwise keep answering after stop.
        self.drop_connections()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class DemoHandler(BaseHTTPRequestHandler):
    """One HTTP exchange with a demo server (`self.demo`): the body read, admin routes (under
    `admin_prefix`) apart from the API's, connections tracked, no per-request logging."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    disable_nagle_algorithm = True  # headers and body go out in two writes
    timeout = 60  # idle keep-alive connections give their thread back eventually
    admin_prefix = "/_demo/"

    @property
    def demo(self):
        return self.server.demo  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        self.demo.track_connection(self.connection, opened=True)

    def finish(self) -> None:
        self.demo.track_connection(self.connection, opened=False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._receive("GET")

    def do_POST(self) -> None:
        self._receive("POST")

    def do_DELETE(self) -> None:
        self._receive("DELETE")

    def _receive(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        if parts.path.startswith(self.admin_prefix):
            self.admin(method, parts.path, body)
        else:
            self.dispatch(method, parts, body)

    def admin(self, method: str, path: str, body: bytes) -> None:
        raise NotImplementedError

    def dispatch(self, method: str, parts: SplitResult, body: bytes) -> None:
        raise NotImplementedError
