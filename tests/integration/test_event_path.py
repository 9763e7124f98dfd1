"""A ticket written in the core reaches live dashboards through the outbox, the Redis stream,
realtime and the gateway, for its own organization only, and nothing is lost on the way."""

import asyncio
import os
import signal
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import socketio

from tests.integration.conftest import close_socket, connect_socket, socket_client
from tools.stack import RedisServer, Stack, http_status


def bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


async def eventually(condition: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_c09_every_service_and_the_gateway_are_healthy(stack: Stack) -> None:
    for name in ("core", "ai", "realtime"):
        assert http_status(f"{stack.cfg.url(name)}/health/") == 200, name
        assert http_status(f"{stack.cfg.url(name)}/health/live") == 200, name
    assert http_status(f"http://127.0.0.1:{stack.cfg.gateway_port}/health/") == 200


async def test_ticket_created_reaches_its_own_organization_only(
    gateway: str, http: httpx.AsyncClient, demo: dict[str, Any], tls_context: ssl.SSLContext
) -> None:
    acme, globex = demo["orgs"]
    ours, ours_got = await connect_socket(gateway, http, acme["agents"][0]["token"], tls_context)
    theirs, theirs_got = await connect_socket(
        gateway, http, globex["agents"][0]["token"], tls_context
    )
    try:
        response = await http.post(
            "/api/v1/tickets/",
            json={"subject": "Tent pole snapped", "description": "On the first night."},
            headers=bearer(acme["customers"][0]),
        )
        assert response.status_code == 201, response.text
        ticket = response.json()

        await eventually(lambda: any(e["ticket_id"] == ticket["id"] for e in ours_got))
        event = next(e for e in ours_got if e["ticket_id"] == ticket["id"])
        assert event["type"] == "ticket.created"
        assert event["data"]["number"] == ticket["number"]
        assert event["data"]["subject"] == "Tent pole snapped"
        await asyncio.sleep(0.5)  # time enough for a misrouted copy to arrive
        assert all(e["organization_id"] != event["organization_id"] for e in theirs_got)
        assert not any(e["ticket_id"] == ticket["id"] for e in theirs_got)
    finally:
        await close_socket(ours)
        await close_socket(theirs)


@pytest.mark.parametrize("auth", [None, {}, {"token": "not-a-jwt"}, {"token": 42}])
async def test_a_socket_without_a_valid_token_is_refused_with_a_reason(
    gateway: str, auth: dict[str, Any] | None, tls_context: ssl.SSLContext
) -> None:
    client = socket_client(tls_context)
    reasons: list[Any] = []
    client.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(gateway, auth=auth, transports=["websocket"], wait_timeout=5)
    await client.eio.http.close()
    await eventually(lambda: bool(reasons))
    assert reasons[0]["data"]["code"] in {"token_missing", "invalid_token"}
    assert reasons[0]["message"]


async def test_the_request_id_travels_from_the_gateway_to_the_log_and_the_event(
    stack: Stack,
    gateway: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    tls_context: ssl.SSLContext,
) -> None:
    agent = demo["orgs"][0]["agents"][0]
    client, got = await connect_socket(gateway, http, agent["token"], tls_context)
    request_id = f"it-{uuid.uuid4().hex[:12]}"
    try:
        response = await http.post(
            "/api/v1/tickets/",
            json={"subject": "Trace me", "description": "Please."},
            headers={**bearer(agent), "X-Request-ID": request_id},
        )
        assert response.status_code == 201
        assert response.headers["X-Request-ID"] == request_id
        ticket_id = response.json()["id"]
        await eventually(lambda: any(e["ticket_id"] == ticket_id for e in got))
        event = next(e for e in got if e["ticket_id"] == ticket_id)
        assert event["request_id"] == request_id
    finally:
        await close_socket(client)
    await eventually(
        lambda: any(
            line.get("request_id") == request_id and line.get("event") == "request"
            for line in stack.log_lines("core")
        )
    )


async def test_bad_input_through_the_gateway_gets_the_error_shape(
    http: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    agent = demo["orgs"][0]["agents"][0]
    cases = [
        ({"subject": "s"}, 400, "validation_error"),
        ({"subject": "s", "description": "d", "colour": "red"}, 400, "validation_error"),
        ({"subject": {"nested": 1}, "description": "d"}, 400, "validation_error"),
    ]
    for body, status, code in cases:
        response = await http.post("/api/v1/tickets/", json=body, headers=bearer(agent))
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
        assert response.json()["request_id"] == response.headers["X-Request-ID"]
    broken = await http.post(
        "/api/v1/tickets/",
        content=b'{"subject": ',
        headers={**bearer(agent), "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "parse_error"
    wrong_token = await http.get("/api/v1/tickets/", headers={"Authorization": "Bearer nope"})
    assert wrong_token.status_code == 401
    assert wrong_token.json()["code"] == "authentication_failed"


async def _create_tickets(
    http: httpx.AsyncClient, user: dict[str, Any], count: int, label: str
) -> set[int]:
    ids = set()
    for i in range(count):
        response = await http.post(
            "/api/v1/tickets/",
            json={"subject": f"{label} {i}", "description": "written while a part was down"},
            headers=bearer(user),
        )
        assert response.status_code == 201, response.text
        ids.add(response.json()["id"])
    return ids


async def test_tickets_written_while_redis_is_down_all_arrive_once_it_is_back(
    stack: Stack,
    redis_server: RedisServer,
    gateway: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    tls_context: ssl.SSLContext,
) -> None:
    agent = demo["orgs"][0]["agents"][0]
    client, got = await connect_socket(gateway, http, agent["token"], tls_context)
    try:
        redis_server.stop()
        assert http_status(f"{stack.cfg.url('core')}/health/") == 503
        ids = await _create_tickets(http, agent, 10, "Outage")
        await asyncio.sleep(1.0)  # the relay retries with back-off meanwhile
        redis_server.start()
        await eventually(lambda: ids <= {e["ticket_id"] for e in got}, within=30)
        # At least once: a consumer de-duplicates on the event id, and then has each exactly once.
        # (The AI's triage updates each ticket too, when it comes: only the creations count.)
        unique = {
            e["id"]: e for e in got if e["ticket_id"] in ids and e["type"] == "ticket.created"
        }
        assert sorted(e["ticket_id"] for e in unique.values()) == sorted(ids)
    finally:
        await close_socket(client)
        if redis_server.process is None:
            redis_server.start()


async def test_tickets_written_while_the_relay_is_down_arrive_when_it_restarts(
    stack: Stack,
    gateway: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    tls_context: ssl.SSLContext,
) -> None:
    agent = demo["orgs"][0]["agents"][1]
    client, got = await connect_socket(gateway, http, agent["token"], tls_context)
    try:
        relay = stack.processes["relay"]
        os.killpg(relay.pid, signal.SIGKILL)  # a crash, not a clean stop
        relay.wait(10)
        ids = await _create_tickets(http, agent, 5, "Relay down")
        await asyncio.sleep(0.5)
        assert not ids & {e["ticket_id"] for e in got}
        stack.start("relay")
        await eventually(lambda: ids <= {e["ticket_id"] for e in got}, within=30)
    finally:
        await close_socket(client)


async def test_a_ticket_change_reaches_dashboards_with_its_changes_and_stale_writes_get_412(
    gateway: str, http: httpx.AsyncClient, demo: dict[str, Any], tls_context: ssl.SSLContext
) -> None:
    acme = demo["orgs"][0]
    alice, bruno = acme["agents"]
    client, got = await connect_socket(gateway, http, alice["token"], tls_context)
    try:
        created = await http.post(
            "/api/v1/tickets/",
            json={"subject": "Two agents, one ticket", "description": "Who answers?"},
            headers=bearer(acme["customers"][0]),
        )
        number, ticket_id = created.json()["number"], created.json()["id"]
        url = f"/api/v1/tickets/{number}/"
        # The AI's triage of a new ticket changes it once (a new version): read the ETags after
        # it, or the first write below races it.
        await eventually(
            lambda: any(
                e["type"] == "ticket.updated"
                and e["ticket_id"] == ticket_id
                and e["actor"]["kind"] == "ai"
                for e in got
            )
        )
        seen_by_alice = (await http.get(url, headers=bearer(alice))).headers["ETag"]
        seen_by_bruno = (await http.get(url, headers=bearer(bruno))).headers["ETag"]

        first = await http.patch(
            url, json={"status": "open"}, headers={**bearer(bruno), "If-Match": seen_by_bruno}
        )
        assert first.status_code == 200
        late = await http.patch(
            url, json={"status": "solved"}, headers={**bearer(alice), "If-Match": seen_by_alice}
        )
        assert late.status_code == 412
        assert late.json()["current"]["status"] == "open"

        def agents_updates() -> list[dict[str, Any]]:
            # The AI's triage updates the ticket too (actor kind "ai"): only people's count here.
            return [
                e
                for e in got
                if e["type"] == "ticket.updated"
                and e["ticket_id"] == ticket_id
                and e["actor"]["kind"] == "user"
            ]

        await eventually(lambda: bool(agents_updates()))
        update = agents_updates()[0]
        assert update["data"]["changes"] == [{"field": "status", "old": "new", "new": "open"}]
        assert update["actor"]["role"] == "agent"
        assert len(agents_updates()) == 1  # the refused write emitted nothing
    finally:
        await close_socket(client)
