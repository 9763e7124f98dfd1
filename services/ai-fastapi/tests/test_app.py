"""The application as a whole: schema and docs under /ai/, CORS, the module-level app."""

from app.config import Settings
from app.main import create_app
from tests.asgi import ASGIClient


async def test_schema_and_docs_under_ai(client: ASGIClient) -> None:
    schema = await client.get("/ai/openapi.json")
    docs = await client.get("/ai/docs")

    assert schema.status == 200
    assert schema.json()["paths"]["/health/"]["get"]["tags"] == ["ops"]
    assert docs.status == 200
    assert "/ai/openapi.json" in docs.text
    assert (await client.get("/docs")).status == 404
    assert (await client.get("/ai/redoc")).status == 404


async def test_no_cors_headers_without_origins(client: ASGIClient) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://app.example.com"})

    assert response.status == 200
    assert response.header("access-control-allow-origin") is None


async def test_cors_allows_only_listed_origins(settings: Settings) -> None:
    settings = settings.model_copy(update={"AI_CORS_ORIGINS": ["https://app.example.com"]})
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-request-id",
    }
    async with ASGIClient(create_app(settings)).lifespan() as client:
        allowed = await client.request("OPTIONS", "/health/live", headers=preflight)
        simple = await client.get("/health/live", headers={"Origin": "https://app.example.com"})
        other = await client.get("/health/live", headers={"Origin": "https://evil.example.com"})

    assert allowed.status == 200
    assert allowed.header("access-control-allow-origin") == "https://app.example.com"
    assert simple.header("access-control-allow-origin") == "https://app.example.com"
    assert "x-request-id" in (simple.header("access-control-expose-headers") or "").lower()
    assert other.header("access-control-allow-origin") is None


def test_module_level_app_is_built_from_the_environment() -> None:
    from app.main import app

    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/ai/openapi.json", "/ai/docs"} <= paths
    assert app.openapi()["paths"].keys() >= {"/health/", "/health/live", "/metrics"}
