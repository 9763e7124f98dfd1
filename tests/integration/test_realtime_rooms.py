"""Audiences and rooms with the real core. These need core's comments endpoint (internal
notes) and its room-access endpoint (helpdesk_shared.access); presence is checked on the two
nodes directly, so that each agent is known to be on a different one."""

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.realtime_clients import (
    Dashboard,
    bearer,
    create_ticket,
    eventually,
    realtime_token,
)
from tools.stack import Stack


async def post_comment(
    http: httpx.AsyncClient, user: dict[str, Any], number: int, body: str, *, public: bool
) -> None:
    response = await http.post(
        f"/api/v1/tickets/{number}/comments",
        json={"body": body, "public": public},
        headers=bearer(user),
    )
    if response.status_code == 404:  # the same route with Django's trailing slash
        response = await http.post(
            f"/api/v1/tickets/{number}/comments/",
            json={"body": body, "public": public},
            headers=bearer(user),
        )
    assert response.status_code == 201, response.text


async def test_a_customer_never_receives_an_internal_note(
    gateway: str, http: httpx.AsyncClient, demo: dict[str, Any], tls_context: ssl.SSLContext
) -> None:
    acme = demo["orgs"][0]
    agent, customer = acme["agents"][0], acme["customers"][0]
    ticket = await create_ticket(http, customer, "Watch my ticket")
    theirs = Dashboard(gateway, await realtime_token(http, customer), tls_context)
    staff = Dashboard(gateway, await realtime_token(http, agent), tls_context)
    await theirs.connect()
    await staff.connect()
    try:
        answer = await theirs.call("subscribe", {"kind": "ticket", "id": ticket["id"]})
        assert answer["ok"] is True, answer
        await post_comment(http, agent, ticket["number"], "SECRET internal note", public=False)
        await post_comment(http, agent, ticket["number"], "We are on it", public=True)

        def comments(board: Dashboard) -> list[dict[str, Any]]:
            return [d for name, d in board.events if name == "comment.created"]

        await eventually(lambda: len(comments(staff)) >= 2)
        await eventually(lambda: len(comments(theirs)) >= 1)
        await asyncio.sleep(1.0)  # time enough for a misrouted copy to arrive
        assert [c["data"]["public"] for c in comments(theirs)] == [True]
        assert not any("SECRET" in str(data) for _, data in theirs.events)
        # Nor on replay.
        await theirs.client.disconnect()
        theirs.offset = theirs.readies()[0]["offset"]
        theirs.events.clear()
        await theirs.connect()
        await eventually(lambda: len(comments(theirs)) >= 1)
        await asyncio.sleep(0.5)
        assert not any("SECRET" in str(data) for _, data in theirs.events)
    finally:
        await theirs.close()
        await staff.close()


def _heard_error(board: Dashboard) -> Callable[[], bool]:
    return lambda: any(name == "error" for name, _ in board.control)


async def test_rooms_a_user_may_not_see_are_refused(
    gateway: str, http: httpx.AsyncClient, demo: dict[str, Any], tls_context: ssl.SSLContext
) -> None:
    acme, globex = demo["orgs"]
    mine = await create_ticket(http, acme["customers"][0], "Mine")
    # (Acme's other customers are colleagues of a company that shares tickets: they may.)
    nosy = Dashboard(gateway, await realtime_token(http, globex["customers"][0]), tls_context)
    outsider = Dashboard(gateway, await realtime_token(http, globex["agents"][0]), tls_context)
    insider = Dashboard(gateway, await realtime_token(http, acme["agents"][0]), tls_context)
    for board in (nosy, outsider, insider):
        await board.connect()
    try:
        room = {"kind": "ticket", "id": mine["id"]}
        for board in (nosy, outsider):
            answer = await board.call("subscribe", room)
            assert answer["ok"] is False
            assert answer["error"]["code"] == "forbidden"
            await eventually(_heard_error(board))  # also as an "error" message
        assert (await insider.call("subscribe", room))["ok"] is True
        assert (await nosy.call("subscribe", {"kind": "queue", "id": 1}))["ok"] is False
    finally:
        for board in (nosy, outsider, insider):
            await board.close()


async def test_presence_is_shared_by_the_two_nodes(
    stack: Stack, http: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    acme = demo["orgs"][0]
    alice, bruno = acme["agents"]
    ticket = await create_ticket(http, acme["customers"][0], "Two agents, one ticket")
    node_a = stack.cfg.url("realtime")
    node_b = f"http://127.0.0.1:{stack.cfg.extra_realtime_ports[0]}"
    assert node_a is not None
    on_a = Dashboard(node_a, await realtime_token(http, alice), None)
    on_b = Dashboard(node_b, await realtime_token(http, bruno), None)
    await on_a.connect()
    await on_b.connect()
    try:
        assert on_a.readies()[0]["node"] != on_b.readies()[0]["node"]
        room = {"kind": "ticket", "id": ticket["id"]}
        assert (await on_a.call("subscribe", room))["ok"]
        assert (await on_b.call("subscribe", room))["ok"]
        await on_a.call("presence", {"ticket_id": ticket["id"], "state": "viewing"})
        await on_b.call("presence", {"ticket_id": ticket["id"], "state": "typing"})

        def latest(board: Dashboard) -> list[dict[str, Any]]:
            changes = [d for name, d in board.events if name == "presence.changed"]
            return list(changes[-1]["viewers"]) if changes else []

        await eventually(lambda: {v["state"] for v in latest(on_a)} == {"viewing", "typing"})
        await eventually(lambda: latest(on_b) == latest(on_a))
        await on_b.close()
        await eventually(lambda: [v["state"] for v in latest(on_a)] == ["viewing"])
    finally:
        await on_a.close()
        await on_b.close()
