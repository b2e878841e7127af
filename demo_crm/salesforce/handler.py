"""One HTTP exchange with the demo org: faults, the OAuth token, the session, the daily
allocation, then the REST route.

Admin routes (`/_demo/`) need the connected app's client secret as a bearer token; no faults,
limits or logging apply to them.
"""

import json
import re
import socket
import time
import traceback
from datetime import UTC, datetime
from urllib.parse import SplitResult, parse_qs

from ..serving import DemoHandler
from .admin import handle_admin
from .api import API_VERSIONS, DEFAULT_BATCH, MAX_BATCH, MIN_BATCH, NOT_FOUND, errors

_DATA_PATH = re.compile(r"/services/data/v(\d+\.\d)(?:/(.*))?$")
_VERSIONS = {v for v, _label in API_VERSIONS}
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
INVALID_SESSION = errors("INVALID_SESSION_ID", "Session expired or invalid")
CONCURRENCY_LIMIT = errors("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
DAILY_LIMIT = errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
_STATUS_ERRORS = {500: "UNKNOWN_EXCEPTION", 502: "SERVER_UNAVAILABLE", 503: "SERVER_UNAVAILABLE"}


class Handler(DemoHandler):
    server_version = "demo-salesforce"

    def dispatch(self, method: str, parts: SplitResult, body: bytes) -> None:
        soql = parse_qs(parts.query).get("q", [parts.query])[0]
        fault = self.demo.log_request(method, parts.path, soql)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.kind == "status":
                self._send(fault.status, fault.body or _status_body(fault.status), {})
                return
            if fault.kind == "concurrency":
                self._send(403, CONCURRENCY_LIMIT, {})
                return
            if fault.kind == "expire_token":
                self.demo.expire_tokens()
        status, payload, headers = self._answer(method, parts.path, parts.query, body)
        cut = fault.kind if fault is not None else None
        if cut == "not_json":
            self._send_bytes(fault.status, b"<html><body>Service Unavailable</body></html>", {})
            return
        self._send(status, payload, headers, cut)

    def admin(self, method: str, path: str, body: bytes) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.demo.client_secret}":
            self._send(401, INVALID_SESSION, {})
            return
        try:
            status, payload = handle_admin(self.demo, method, path, body)
        except Exception:
            traceback.print_exc()
            status, payload = 500, errors("UNKNOWN_EXCEPTION", "Internal error")
        self._send(status, payload, {})

    def _answer(self, method: str, path: str, query: str, body: bytes) -> tuple[int, object, dict]:
        demo = self.demo
        if path.rstrip("/") == "/services/oauth2/token" and method == "POST":
            return (*self._token(body), {})
        if path.rstrip("/") == "/services/data" and method == "GET":
            return 200, demo.api.versions(), {}
        match = _DATA_PATH.match(path)
        if match is None or match.group(1) not in _VERSIONS or method != "GET":
            return 404, NOT_FOUND, {}
        authorization = self.headers.get("Authorization") or ""
        token = authorization.removeprefix("Bearer ").strip()
        if not authorization.startswith("Bearer ") or not demo.is_valid(token):
            return 401, INVALID_SESSION, {}
        allowed, used, maximum = demo.count_api_request()
        headers = {"Sforce-Limit-Info": f"api-usage={used}/{maximum}"}
        if not allowed:
            return 403, DAILY_LIMIT, headers
        limits = {
            "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
            "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
        }
        batch = _BATCH.search(self.headers.get("Sforce-Query-Options") or "")
        batch_size = min(MAX_BATCH, max(MIN_BATCH, int(batch.group(1)))) if batch else DEFAULT_BATCH
        params = parse_qs(query, keep_blank_values=True)
        route = (match.group(2) or "").rstrip("/")
        try:
            status, payload = demo.api.handle(match.group(1), route, params, batch_size, limits)
        except Exception:  # a bug must reach the client as Salesforce's 500, not a hang
            traceback.print_exc()
            status, payload = 500, errors("UNKNOWN_EXCEPTION", "An unexpected error occurred.")
        return status, payload, headers

    def _token(self, body: bytes) -> tuple[int, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "grant type not supported",
            }
        token = self.demo.issue_token(form.get("client_id", ""), form.get("client_secret", ""))
        if token is None:
            return 400, {
                "error": "invalid_client",
                "error_description": "invalid client credentials",
            }
        url = self.demo.url
        issued = str(int(datetime.now(UTC).timestamp() * 1000))
        return 200, {
            "access_token": token,
            "instance_url": url,
            "id": f"{url}/id/00DDm0000000001AAA/{self.demo.org.dresser.integration_user}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": token[-44:],
        }

    def _send(self, status: int, payload: object, headers: dict, cut: str | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        if cut == "truncate":
            status, data = 200, data[: len(data) // 2]
        if cut == "disconnect":
            self._send_bytes(status, data, headers, disconnect=True)
            return
        self._send_bytes(status, data, headers)

    def _send_bytes(
        self, status: int, data: bytes, headers: dict, disconnect: bool = False
    ) -> None:
        self.send_response(status)
        json_body = data[:1] in (b"[", b"{")
        content_type = "application/json;charset=UTF-8" if json_body else "text/html"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if disconnect:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)


def _status_body(status: int) -> list[dict]:
    code = _STATUS_ERRORS.get(status, "UNKNOWN_EXCEPTION" if status >= 500 else "BAD_REQUEST")
    return errors(code, f"Injected fault: HTTP {status}")
