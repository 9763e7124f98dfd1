"""The official JavaScript client (socket.io-client from npm, under node) through the gateway:
it authenticates, receives events, replays after a reconnect, and hears refusals."""

import asyncio
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.realtime_clients import create_ticket, realtime_token
from tools.stack import ROOT, Stack

JS_DIR = ROOT / "services" / "realtime" / "js-client-tests"


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node 20 and npm are required for the JavaScript client tests")
    if not (JS_DIR / "node_modules" / "socket.io-client").exists():
        subprocess.run(  # exactly package-lock.json, from the npm registry
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, capture_output=True
        )
    return JS_DIR / "client.mjs"


class JsClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._seq = 0

    async def next(self, kind: str, within: float = 15, **match: Any) -> dict[str, Any]:
        """The next line of this kind (and with these fields), recording every line read."""
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), within)
            if not raw:
                raise AssertionError(f"the client ended; it said: {self.lines[-5:]}")
            line = json.loads(raw)
            self.lines.append(line)
            if line["kind"] == kind and all(line.get(k) == v for k, v in match.items()):
                return dict(line)

    async def event(self, name: str, within: float = 15) -> dict[str, Any]:
        return (await self.next("event", within, name=name))["data"]  # type: ignore[no-any-return]

    async def emit(self, event: str, data: Any) -> Any:
        assert self.process.stdin is not None
        self._seq += 1
        command = {"cmd": "emit", "seq": self._seq, "event": event, "data": data}
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        return (await self.next("ack", seq=self._seq))["data"]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [x["data"] for x in self.lines if x["kind"] == "event" and x["name"] == name]


@asynccontextmanager
async def js_client(
    script: Path, stack: Stack, gateway: str, auth: dict[str, Any]
) -> AsyncIterator[JsClient]:
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(stack.cfg.tls_dir / "cert.pem")}
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(script),
        json.dumps({"url": gateway, "auth": auth}),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        yield JsClient(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_the_js_client_receives_events_and_replays_after_a_reconnect(
    node_client: Path,
    stack: Stack,
    gateway: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    tls_context: ssl.SSLContext,
) -> None:
    acme = demo["orgs"][0]
    token = await realtime_token(http, acme["agents"][0])
    async with js_client(node_client, stack, gateway, {"token": token}) as first:
        await first.next("connect")
        ready = await first.event("ready")
        assert ready["replayed"] == 0
        ticket = await create_ticket(http, acme["customers"][0], "Seen by node")
        event = await first.event("ticket.created")
        assert (event["ticket_id"], event["data"]["subject"]) == (ticket["id"], "Seen by node")
        offset = event["offset"]
        unknown = await first.emit("drop_tables", {})
        assert unknown["error"]["code"] == "unknown_event"
    missed = [
        (await create_ticket(http, acme["customers"][0], f"Missed {i}"))["id"] for i in range(2)
    ]
    await asyncio.sleep(0.5)
    auth = {"token": token, "last_event_id": offset}
    async with js_client(node_client, stack, gateway, auth) as again:
        await again.next("connect")
        got = [(await again.event("ticket.created"))["ticket_id"] for _ in missed]
        assert got == missed
        ready = await again.event("ready")
        # The missed tickets, and whatever else happened meanwhile (the AI's triage updates).
        assert ready["replayed"] >= len(missed)


async def test_the_js_client_is_refused_with_a_reason(
    node_client: Path, stack: Stack, gateway: str
) -> None:
    async with js_client(node_client, stack, gateway, {"token": "forged"}) as client:
        refusal = await client.next("connect_error")
        assert refusal["data"]["code"] == "invalid_token"
