"""API documentation (seed C08) and the CORS allow-list (seed C04)."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings


def test_c08_openapi_schema_is_valid_and_describes_the_api(tmp_path: Path) -> None:
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = out.read_text()
    for path in ("/api/v1/tickets/:", "/api/v1/realtime/token:", "/api/v1/me:"):
        assert path in schema
    assert "scheme: bearer" in schema


@pytest.mark.django_db
def test_c08_swagger_ui_is_served_at_api_swagger_from_our_own_files() -> None:
    page = Client().get("/api/swagger/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html  # nothing from a third party: the CSP allows 'self' only
    assert "<script>" not in html  # no inline script either
    script = Client().get("/api/swagger/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=["https://helpdesk.example.com"])
def test_c04_cors_answers_only_the_listed_origins() -> None:
    def preflight(origin: str) -> dict[str, str]:
        response = Client().options(
            "/api/v1/tickets/",
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        )
        return dict(response.headers)

    allowed = preflight("https://helpdesk.example.com")
    assert allowed["access-control-allow-origin"] == "https://helpdesk.example.com"
    assert "access-control-allow-origin" not in preflight("https://evil.example.net")


def test_c04_no_origin_is_allowed_by_default() -> None:
    from django.conf import settings

    assert settings.CORS_ALLOWED_ORIGINS == []
    assert not getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False)
