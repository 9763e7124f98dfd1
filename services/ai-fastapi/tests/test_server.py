"""The app under a real uvicorn server, spoken to over a socket with plain HTTP/1.1."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.logs import json_lines


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    # log_config=None: uvicorn must not replace the logging create_app configured (as the CLI,
    # which configures its own before importing the app, does not either).
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


async def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def test_real_server_answers_and_logs_an_error_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with serving(app) as port:
        ready = await http_get(port, "/health/", {})
        for _ in range(600):  # the default models load after start-up
            if ready[0] == 200:
                break
            await asyncio.sleep(0.05)
            ready = await http_get(port, "/health/", {})
        boom_status, boom_body = await http_get(port, "/test/boom", {"X-Request-ID": "srv-1"})

    assert ready == (200, {"status": "ok", "checks": ready[1]["checks"]})
    assert set(ready[1]["checks"]) == {"redis", "models"}
    assert ready[1]["checks"]["redis"]["ok"] is True
    assert boom_status == 500
    assert boom_body["code"] == "internal_error"
    assert boom_body["request_id"] == "srv-1"

    out = capsys.readouterr().out
    assert "Exception in ASGI application" not in out
    tracebacks = [line for line in json_lines(out) if "exception" in line]
    assert len(tracebacks) == 1
    assert tracebacks[0]["request_id"] == "srv-1"
