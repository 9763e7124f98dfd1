"""The workers with real processes: the AI triages a new ticket through core's API, a bot
classifies through the gateway with a key core issued, and the webhook worker delivers a signed
event to a receiver."""

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tools.stack import free_port

TRIAGE_TIMEOUT = 60.0  # the AI worker loads its models at start: the first verdict may wait


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_new_ticket_is_triaged_by_the_ai_and_recorded_as_the_ais(
    http: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    org = demo["orgs"][0]
    customer, agent = org["customers"][0]["token"], org["agents"][0]["token"]
    created = await http.post(
        "/api/v1/tickets/",
        json={
            "subject": "I was charged twice for my subscription",
            "description": "My credit card shows two payments for the March invoice. "
            "Please refund the duplicate charge.",
        },
        headers=_auth(customer),
    )
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert created.json()["triage"] is None  # customers never see the AI's fields

    deadline = time.monotonic() + TRIAGE_TIMEOUT
    triage = None
    while time.monotonic() < deadline:
        detail = await http.get(f"/api/v1/tickets/{number}/", headers=_auth(agent))
        triage = detail.json()["triage"]
        if triage is not None:
            break
        await asyncio.sleep(0.5)
    assert triage is not None, "the AI did not triage the ticket"
    assert triage["category"]["label"]
    assert 0.0 <= triage["category"]["confidence"] <= 1.0
    assert triage["language"]["label"] == "en"
    assert "@" in triage["model"]  # model id and version
    history = (await http.get(f"/api/v1/tickets/{number}/history", headers=_auth(agent))).json()
    assert any(entry["actor"]["kind"] == "ai" for entry in history)


async def test_a_bot_classifies_with_the_key_core_issued_and_loses_it_on_revocation(
    http: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    org = demo["orgs"][0]
    admin = org["admin"]["token"]
    me = await http.get("/api/v1/me", headers=_auth(org["bot_api_key"]))
    bot_id = me.json()["id"]
    issued = await http.post(
        "/api/v1/tokens/",
        json={"name": "it-classifier", "scopes": ["ai:classify"], "user": bot_id},
        headers=_auth(admin),
    )
    assert issued.status_code == 201, issued.text
    key = issued.json()["token"]
    body = {"subject": "Package never arrived", "body": "Tracking says delivered, it is not here."}
    answer = await http.post("/ai/v1/classify", json=body, headers=_auth(key))
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert {"category", "priority", "sentiment", "language", "model", "request_id"} <= set(verdict)
    assert 0.0 <= verdict["category"]["confidence"] <= 1.0

    # A key revoked before its first use at the AI is refused at once (nothing cached yet).
    spare = await http.post(
        "/api/v1/tokens/",
        json={"name": "it-revoked", "scopes": ["ai:classify"], "user": bot_id},
        headers=_auth(admin),
    )
    revoked = await http.delete(f"/api/v1/tokens/{spare.json()['id']}", headers=_auth(admin))
    assert revoked.status_code == 204
    refused = await http.post("/ai/v1/classify", json=body, headers=_auth(spare.json()["token"]))
    assert refused.status_code == 401
    assert refused.json()["request_id"]


class _Receiver:
    """A webhook receiver on loopback that records what it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    yield server
    server.close()


async def test_the_webhook_worker_delivers_a_signed_event(
    http: httpx.AsyncClient, demo: dict[str, Any], receiver: _Receiver
) -> None:
    org = demo["orgs"][1]
    admin = org["admin"]["token"]
    endpoint = await http.post(
        "/api/v1/webhooks/",
        json={"url": f"http://127.0.0.1:{receiver.port}/hook", "event_types": ["ticket.created"]},
        headers=_auth(admin),
    )
    assert endpoint.status_code == 201, endpoint.text
    secret = endpoint.json()["secret"]
    created = await http.post(
        "/api/v1/tickets/",
        json={"subject": "Webhook probe", "description": "for the receiver"},
        headers=_auth(org["customers"][0]["token"]),
    )
    assert created.status_code == 201
    ticket_id = created.json()["id"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(json.loads(b).get("ticket_id") == ticket_id for _, b in receiver.requests):
            break
        await asyncio.sleep(0.2)
    matching = [(h, b) for h, b in receiver.requests if json.loads(b).get("ticket_id") == ticket_id]
    assert matching, "the webhook did not arrive"
    headers, body = matching[0]
    # Standard Webhooks: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"> with the secret's key.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert f"v1,{expected}" in headers["webhook-signature"].split()
