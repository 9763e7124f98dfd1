"""Connecting over Socket.IO: refused with a reason without a valid token, accepted with one."""

import time
from typing import Any

import pytest
import socketio

from tests.support import Listener, make_token


def refusal_code(listener: Listener) -> Any:
    assert listener.connect_errors, "the client got no connect_error"
    return listener.connect_errors[-1]["data"]["code"]


@pytest.mark.parametrize("auth", [None, {}, {"jwt": "x"}, {"token": ""}, {"token": 42}])
async def test_connect_without_token_is_refused(app_url: str, auth: Any) -> None:
    listener = Listener()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.connect(app_url, auth)
    assert refusal_code(listener) == "token_missing"
    assert listener.connect_errors[-1]["message"]
    assert not listener.client.connected


async def test_forged_token_is_refused(app_url: str) -> None:
    listener = Listener()
    forged = make_token(secret="not-the-secret-core-uses-0123456789abcdef")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.connect(app_url, {"token": forged})
    assert refusal_code(listener) == "invalid_token"


async def test_expired_token_is_refused_as_expired(app_url: str) -> None:
    listener = Listener()
    now = int(time.time())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.connect(app_url, {"token": make_token(iat=now - 900, exp=now - 60)})
    assert refusal_code(listener) == "token_expired"


async def test_valid_token_connects(app_url: str) -> None:
    listener = Listener()
    await listener.connect(app_url, {"token": make_token(), "client": "dashboard/1.0"})
    try:
        assert listener.client.connected
        assert listener.client.get_sid() is not None
        assert listener.connect_errors == []
    finally:
        await listener.close()


async def test_websocket_only_transport_connects(app_url: str) -> None:
    listener = Listener()
    await listener.client.connect(app_url, auth={"token": make_token()}, transports=["websocket"])
    try:
        assert listener.client.transport() == "websocket"
    finally:
        await listener.close()
