"""``/metrics``: the kit's counters, labelled by route template, never by raw path."""

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.asgi import ASGIClient


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    @app.get("/test/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


async def test_metrics_count_requests_by_route_template(client: ASGIClient) -> None:
    assert (await client.get("/test/items/42")).status == 200
    assert (await client.get("/health/live")).status == 200

    response = await client.get("/metrics")

    assert response.status == 200
    assert (response.header("content-type") or "").startswith("text/plain")
    samples = [
        line for line in response.text.splitlines() if line.startswith("http_requests_total")
    ]
    assert any(
        'route="/test/items/{item_id}"' in line and 'status="200"' in line for line in samples
    )
    assert any('route="/health/live"' in line for line in samples)
    assert not any("/test/items/42" in line for line in samples)
