import jwt
import pytest
from django.conf import settings

from helpdesk.accounts.models import User
from helpdesk_shared import REALTIME_TOKEN_AUDIENCE, RealtimeClaims
from tests.factories import client_for


@pytest.mark.django_db
def test_realtime_token_carries_user_org_and_role_and_expires_soon(agent: User) -> None:
    response = client_for(agent).post("/api/v1/realtime/token")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    raw = jwt.decode(
        response.json()["token"],
        settings.REALTIME_TOKEN_SECRET,
        algorithms=["HS256"],
        audience=REALTIME_TOKEN_AUDIENCE,
    )
    claims = RealtimeClaims.model_validate(raw)
    assert claims.user_id == agent.pk
    assert claims.org == agent.organization_id
    assert claims.role == "agent"
    assert 0 < claims.exp - claims.iat <= 15 * 60


@pytest.mark.django_db
def test_me_describes_the_caller(agent: User) -> None:
    body = client_for(agent).get("/api/v1/me").json()
    assert body["email"] == agent.email
    assert body["role"] == "agent"
    assert body["organization"]["slug"] == agent.organization.slug  # type: ignore[union-attr]
