"""Realtime through the gateway, with two nodes: replay after a reconnect, organizations kept
apart, a node killed while events flow, malformed and oversized messages."""

import asyncio
import os
import signal
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import pytest

from tests.integration.realtime_clients import (
    Dashboard,
    create_ticket,
    eventually,
    realtime_token,
)
from tools.stack import Stack, http_status


async def test_replay_after_reconnect_gives_what_was_missed_in_order_once(
    gateway: str, http: httpx.AsyncClient, demo: dict[str, Any], tls_context: ssl.SSLContext
) -> None:
    acme = demo["orgs"][0]
    agent, customer = acme["agents"][0], acme["customers"][0]
    board = Dashboard(gateway, await realtime_token(http, agent), tls_context)
    await board.connect()
    try:
        first = await create_ticket(http, customer, "Before the break")
        await eventually(lambda: first["id"] in board.ticket_ids())
        await board.client.disconnect()
        missed = [(await create_ticket(http, customer, f"Missed {i}"))["id"] for i in range(3)]
        await asyncio.sleep(0.5)  # relayed and read by both nodes while nobody listens
        await board.connect()  # with last_event_id = the offset of the last event it got
        assert board.readies()[-1]["replayed"] >= 3
        live = await create_ticket(http, customer, "After")
        await eventually(lambda: live["id"] in board.ticket_ids())
        ids = board.ticket_ids()
        assert ids[ids.index(first["id"]) :] == [first["id"], *missed, live["id"]]
        assert len(board.event_ids()) == len(set(board.event_ids()))
    finally:
        await board.close()


async def test_another_organization_gets_nothing_live_or_replayed(
    gateway: str, http: httpx.AsyncClient, demo: dict[str, Any], tls_context: ssl.SSLContext
) -> None:
    acme, globex = demo["orgs"]
    theirs = Dashboard(gateway, await realtime_token(http, globex["agents"][0]), tls_context)
    await theirs.connect()
    try:
        start = theirs.offset
        ours = await create_ticket(http, acme["customers"][0], "Acme only")
        own = await create_ticket(http, globex["customers"][0], "Globex's own")
        await eventually(lambda: own["id"] in theirs.ticket_ids())
        assert ours["id"] not in theirs.ticket_ids()
        await theirs.client.disconnect()
        theirs.events.clear()
        theirs.offset = start  # replay both tickets' time span
        await theirs.connect()
        await eventually(lambda: own["id"] in theirs.ticket_ids())
        assert ours["id"] not in theirs.ticket_ids()
        globex_org = next(d for _, d in theirs.events if d["ticket_id"] == own["id"])
        assert {d["organization_id"] for _, d in theirs.events} == {globex_org["organization_id"]}
    finally:
        await theirs.close()


def _has_all(board: Dashboard, ticket_ids: list[int]) -> Callable[[], bool]:
    return lambda: set(ticket_ids) <= set(board.ticket_ids())


def _kill(stack: Stack, name: str, sig: signal.Signals) -> None:
    process = stack.processes.pop(name)
    os.killpg(process.pid, sig)
    process.wait(20)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "sigterm"])
async def test_a_node_goes_away_its_clients_reconnect_to_the_other_and_miss_nothing(
    stack: Stack,
    gateway: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    tls_context: ssl.SSLContext,
    sig: signal.Signals,
) -> None:
    acme = demo["orgs"][0]
    agent, customer = acme["agents"][1], acme["customers"][0]
    token = await realtime_token(http, agent)
    boards = []
    try:
        # least_conn spreads them over both nodes (a node restarted by the previous case may
        # still be marked failed by nginx for a few seconds).
        for _ in range(40):
            client = Dashboard(gateway, token, tls_context, reconnect=True)
            await client.connect()
            boards.append(client)
            if len(boards) >= 4 and len({b.readies()[-1]["node"] for b in boards}) == 2:
                break
            await asyncio.sleep(0.3)
        nodes = {b.readies()[-1]["node"] for b in boards}
        assert len(nodes) == 2, nodes
        victim_node = boards[0].readies()[-1]["node"]
        victim = next(
            name
            for name in ("realtime", "realtime-2")
            if any(
                line.get("node") == victim_node and line.get("event") == "realtime_started"
                for line in stack.log_lines(name)
            )
        )
        created: list[int] = []

        async def produce() -> None:
            for i in range(20):
                created.append((await create_ticket(http, customer, f"During {i}"))["id"])
                await asyncio.sleep(0.05)

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.3)
        _kill(stack, victim, sig)
        await producer
        for board in boards:
            try:
                await eventually(_has_all(board, created), within=30)
            except AssertionError:
                missing = set(created) - set(board.ticket_ids())
                raise AssertionError(
                    f"{board.client.connected} {board.control} {missing}"
                ) from None
            ids = board.ticket_ids()
            assert len(ids) == len(set(ids)), "an event was delivered twice"
        moved = [b for b in boards if len(b.readies()) > 1]
        assert moved, "no client had to reconnect"
        for board in moved:
            assert board.readies()[-1]["node"] != victim_node
        if sig == signal.SIGTERM:
            assert any(name == "reconnect" for b in moved for name, _ in b.control)
    finally:
        for board in boards:
            await board.close()
        if "realtime" not in stack.processes:
            stack.start("realtime")
        if "realtime-2" not in stack.processes:
            stack.start("realtime-2")


async def test_malformed_and_oversized_messages_through_the_gateway(
    stack: Stack,
    gateway: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    tls_context: ssl.SSLContext,
) -> None:
    token = await realtime_token(http, demo["orgs"][0]["agents"][0])
    ws_url = gateway.replace("https", "wss") + "/socket.io/?EIO=4&transport=websocket"
    connector = aiohttp.TCPConnector(ssl=tls_context)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.ws_connect(ws_url) as ws,
    ):
        assert (await ws.receive_str()).startswith("0")
        await ws.send_str('40{"token":"' + token + '"}')
        assert (await ws.receive_str()).startswith("40")
        for garbage in (
            "42[not json",
            "49",
            '42["drop_tables"]',
            '421["subscribe",' + '"x"' * 9000 + "]",
        ):
            await ws.send_str(garbage)
        seen = ""
        while not all(
            c in seen for c in ("malformed_message", "unknown_event", "message_too_large")
        ):
            seen += await asyncio.wait_for(ws.receive_str(), 10)
        await ws.send_str('42["subscribe",{"pad":"' + "x" * 100_000 + '"}]')
        closed = await asyncio.wait_for(ws.receive(), 10)
        while closed.type == aiohttp.WSMsgType.TEXT:
            closed = await asyncio.wait_for(ws.receive(), 10)
        assert closed.type in {
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        }
    for name in ("realtime", "realtime-2"):
        assert http_status(f"{stack.specs[name].health_url}") == 200
