"""A connection whose token runs out is told ahead, may renew, and is closed at expiry."""

import asyncio
import time

from tests.support import Listener, listening, make_token


async def test_expiring_token_is_announced_and_can_be_renewed(app_url: str) -> None:
    now = int(time.time())
    async with listening(app_url, make_token(sub="7", exp=now + 30)) as agent:
        warning = await agent.next_control("token.expiring")  # less than 60 s left
        assert warning["exp"] == now + 30
        fresh = make_token(sub="7", exp=now + 900)
        assert await agent.call("renew", {"token": fresh}) == {"ok": True, "exp": now + 900}


async def test_renew_with_another_users_token_is_refused(app_url: str) -> None:
    async with listening(app_url, make_token(sub="7")) as agent:
        answer = await agent.call("renew", {"token": make_token(sub="8")})
        assert answer["error"]["code"] == "token_mismatch"
        answer = await agent.call("renew", {"token": "forged"})
        assert answer["error"]["code"] == "invalid_token"


async def test_at_expiry_the_connection_is_told_and_closed(app_url: str) -> None:
    agent = Listener()
    await agent.connect(app_url, {"token": make_token(exp=int(time.time()) + 2)})
    try:
        expired = await agent.next_control("token.expired", within=6)
        assert "new token" in expired["message"]
        for _ in range(50):
            if not agent.client.connected:
                break
            await asyncio.sleep(0.05)
        assert not agent.client.connected
    finally:
        await agent.close()
