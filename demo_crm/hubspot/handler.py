"""One HTTP exchange with the demo CRM: faults, auth, rate limits, then the API route.

The server (server.py) hands every connection a `Handler` and itself as the `Gateway`. Admin
routes (`/_demo/`) only need the token: no faults, limits or stats apply to them.
"""

import json
import socket
import time
import traceback
import uuid
from http import HTTPStatus
from urllib.parse import SplitResult, parse_qs

from ..serving import DemoHandler
from .admin import handle_admin
from .api import error_body, is_search
from .gateway import Fault

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def rate_limit_body(policy: str = "TEN_SECONDLY_ROLLING") -> dict:
    """HubSpot's 429 body (it has `errorType` and `policyName`, no `category`)."""
    message = f"You have reached your {policy.lower()} limit."
    return error_body(message, None, errorType="RATE_LIMIT", policyName=policy)


class Handler(DemoHandler):
    server_version = "demo-crm"

    def dispatch(self, method: str, parts: SplitResult, body: bytes) -> None:
        # Faults come first: they stand for the network and gateways in front of the API.
        fault = self.demo.log_request(method, self.path, parts.path, body)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.kind == "status":
                self._fault_response(fault)
                return
        status, payload, headers = self._answer(method, parts.path, parts.query, body)
        self._send(status, payload, headers, cut=fault.kind if fault else None)

    def admin(self, method: str, path: str, body: bytes) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.demo.token}":
            self._send(401, error_body(AUTH_MESSAGE, "INVALID_AUTHENTICATION"), {}, admin=True)
            return
        try:
            status, payload = handle_admin(self.demo, method, path, body)
        except Exception:
            traceback.print_exc()
            status, payload = 500, error_body("Internal error", "INTERNAL_ERROR")
        self._send(status, payload, {}, admin=True)

    def _answer(self, method: str, path: str, query: str, body: bytes) -> tuple[int, dict, dict]:
        demo = self.demo
        # Limits are per app, so only authenticated calls count against them.
        if self.headers.get("Authorization") != f"Bearer {demo.token}":
            return 401, error_body(AUTH_MESSAGE, "INVALID_AUTHENTICATION"), {}
        search = is_search(method, path)
        # Association batch reads are exempt from the ten-secondly limit, as in HubSpot.
        exempt = method == "POST" and path.startswith("/crm/v4/associations/")
        allowed, headers = (True, {}) if exempt else demo.admit(search)
        if not allowed:
            policy = "SECONDLY" if search else "TEN_SECONDLY_ROLLING"
            return 429, rate_limit_body(policy), headers
        params = parse_qs(query, keep_blank_values=True)
        host, port = self.server.server_address[:2]
        base = f"http://{self.headers.get('Host') or f'{host}:{port}'}"
        try:
            status, payload = demo.api.handle(method, path, params, body, base)
        except Exception:  # a bug here must reach the client as HubSpot's 500, not a hang
            traceback.print_exc()
            status, payload = 500, error_body("Internal error", "INTERNAL_ERROR")
        return status, payload, headers

    def _fault_response(self, fault: Fault) -> None:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.body is not None:
            payload = fault.body
        elif fault.status == 429:
            payload = rate_limit_body()
        else:
            try:
                phrase = HTTPStatus(fault.status).phrase
            except ValueError:
                phrase = "Error"
            category = "INTERNAL_ERROR" if fault.status >= 500 else "VALIDATION_ERROR"
            payload = error_body(phrase, category)
        self._send(fault.status, payload, headers)

    def _send(
        self, status: int, payload: dict, headers: dict, cut: str | None = None, admin: bool = False
    ) -> None:
        if status == 429 and not admin:
            self.demo.count_429()
        data = json.dumps(payload, separators=(",", ":")).encode()
        half = data[: len(data) // 2]
        if cut == "truncate":
            status, data = 200, half
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        correlation = payload.get("correlationId") if isinstance(payload, dict) else None
        self.send_header("X-HubSpot-Correlation-Id", correlation or str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if cut == "disconnect":
            self.wfile.write(half)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)
