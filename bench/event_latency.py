"""Delay from a ticket POST to its ``ticket.created`` on a dashboard socket, through the gateway.

Starts the real platform (PostgreSQL, a redis-server of its own, nginx, core, relay, ai,
realtime) on free ports, connects one Socket.IO client through nginx, then creates tickets one
after another and measures, for each, the time from sending the POST to receiving the event.
Prints the median, p95 and p99 with the machine's core count. Not a test: no thresholds.

    make bench            # 200 tickets
    python -m bench.event_latency --tickets 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import time
from typing import Any

import aiohttp
import httpx
import socketio

from tools.stack import GatewaySettings, temporary_stack


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def measure(
    gateway: str, token: str, tickets: int, tls: ssl.SSLContext
) -> tuple[list[float], list[float]]:
    """Per ticket: the delay from sending the POST to the event, and the POST's own time."""
    arrived: dict[int, float] = {}
    waiting: dict[int, asyncio.Event] = {}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls))
    client = socketio.AsyncClient(reconnection=False, http_session=session)

    @client.on("ticket.created")  # type: ignore[untyped-decorator]
    async def on_created(envelope: dict[str, Any]) -> None:
        arrived[envelope["ticket_id"]] = time.perf_counter()
        if envelope["ticket_id"] in waiting:
            waiting[envelope["ticket_id"]].set()

    delays: list[float] = []
    responses: list[float] = []
    async with httpx.AsyncClient(base_url=gateway, timeout=10, verify=tls) as http:
        headers = {"Authorization": f"Bearer {token}"}
        rt = await http.post("/api/v1/realtime/token", headers=headers)
        await client.connect(gateway, auth={"token": rt.json()["token"]}, transports=["websocket"])
        for i in range(tickets + 10):  # the first 10 warm up connections and caches
            sent = time.perf_counter()
            response = await http.post(
                "/api/v1/tickets/",
                json={"subject": f"Latency probe {i}", "description": "bench"},
                headers=headers,
            )
            response.raise_for_status()
            answered = time.perf_counter()
            ticket_id = response.json()["id"]
            event = waiting.setdefault(ticket_id, asyncio.Event())
            if ticket_id not in arrived:
                await asyncio.wait_for(event.wait(), 10)
            if i >= 10:
                delays.append((arrived[ticket_id] - sent) * 1000)
                responses.append((answered - sent) * 1000)
    await client.disconnect()
    await session.close()
    return delays, responses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    args = parser.parse_args()

    # One client sending as fast as it can: the per-client limit would measure itself.
    with temporary_stack(
        prefix="helpdesk_bench", gateway=GatewaySettings(api_rate="10000r/s", api_burst=10000)
    ) as (stack, demo):
        token = demo["orgs"][0]["agents"][0]["token"]
        gateway = stack.cfg.url("gateway")
        assert gateway is not None
        tls = ssl.create_default_context(cafile=str(stack.cfg.tls_dir / "cert.pem"))
        delays, responses = asyncio.run(measure(gateway, token, args.tickets, tls))
    result = {
        "benchmark": "ticket POST -> socket ticket.created, through nginx, loopback",
        "cores": os.cpu_count(),
        "tickets": len(delays),
        "median_ms": round(statistics.median(delays), 2),
        "p95_ms": round(percentile(delays, 0.95), 2),
        "p99_ms": round(percentile(delays, 0.99), 2),
        "max_ms": round(max(delays), 2),
        "post_response_median_ms": round(statistics.median(responses), 2),
        "post_response_p99_ms": round(percentile(responses, 0.99), 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
