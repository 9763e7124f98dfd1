"""Limits and hygiene: sizes, rates, connections per user, malformed and unknown messages."""

import asyncio

import aiohttp
import pytest
import socketio
from redis.asyncio import Redis

from tests.support import (
    Listener,
    http_get,
    listening,
    make_settings,
    make_token,
    publish,
    serve,
    ticket_created,
)


async def test_an_oversized_message_is_refused_and_the_connection_kept(app_url: str) -> None:
    async with listening(app_url, make_token()) as agent:
        answer = await agent.call("subscribe", {"kind": "ticket", "id": 1, "pad": "x" * 20_000})
        assert answer["error"]["code"] == "message_too_large"
        name, error = await agent.control.get()
        assert (name, error["code"]) == ("error", "message_too_large")
        assert agent.client.connected


async def test_a_message_over_the_hard_cap_closes_the_transport(app_url: str) -> None:
    async with listening(app_url, make_token()) as agent:
        await agent.client.emit("subscribe", {"pad": "x" * 200_000})
        for _ in range(100):
            if not agent.client.connected:
                break
            await asyncio.sleep(0.05)
        assert not agent.client.connected
    status, _, _ = await http_get(f"{app_url}/health/")
    assert status == 200


async def test_too_many_messages_are_rate_limited(stream: str, core: object) -> None:
    settings = make_settings(stream, realtime_message_rate=1, realtime_message_burst=3)
    async with serve(settings) as url, listening(url, make_token()) as agent:
        for _ in range(6):
            await agent.client.emit("status", {"status": "online"})
        codes = []
        while True:
            try:
                _, data = await asyncio.wait_for(agent.control.get(), 1)
            except TimeoutError:
                break
            codes.append(data["code"])
        assert codes.count("rate_limited") >= 2
        assert agent.client.connected


async def test_unknown_events_are_answered(app_url: str) -> None:
    async with listening(app_url, make_token()) as agent:
        await agent.client.emit("drop_tables", {"now": True})
        name, error = await agent.control.get()
        assert (name, error["code"]) == ("error", "unknown_event")


async def test_malformed_packets_are_answered_not_fatal(
    app_url: str, redis: Redis, stream: str
) -> None:
    """Raw Engine.IO over a WebSocket: a connect, then packets no client library would send."""
    ws_url = app_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        assert (await ws.receive_str()).startswith("0")  # Engine.IO open
        await ws.send_str('40{"token": "' + make_token() + '"}')
        assert (await ws.receive_str()).startswith("40")  # connected
        assert '"ready"' in await ws.receive_str()
        for garbage in ("42[not json", '42{"a":1}', "4", "49", "42[]", '42["subscribe",1,2,3]'):
            await ws.send_str(garbage)
        await ws.send_bytes(b"\x00\x01binary")
        errors: list[str] = []
        while not (
            any("malformed_message" in e for e in errors)
            and any("binary_not_supported" in e for e in errors)
        ):
            text = await asyncio.wait_for(ws.receive_str(), 5)
            if text.startswith('42["error"'):
                errors.append(text)
        # Still served: an event arrives on the same connection.
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=77))
        while True:
            text = await asyncio.wait_for(ws.receive_str(), 5)
            if text.startswith('42["ticket.created"'):
                break


async def test_connections_per_user_are_capped(stream: str, core: object) -> None:
    settings = make_settings(stream, realtime_max_connections_per_user=2)
    token = make_token(sub="31")
    async with (
        serve(settings) as url,
        listening(url, token),
        listening(url, token),
    ):
        third = Listener()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await third.connect(url, {"token": token})
        assert third.connect_errors[-1]["data"]["code"] == "too_many_connections"
        async with listening(url, make_token(sub="32")):  # another user is not affected
            pass
    # Closed connections give their places back.
    async with serve(settings) as url, listening(url, token), listening(url, token):
        pass
