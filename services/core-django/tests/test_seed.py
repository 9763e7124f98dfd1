import json
from pathlib import Path

import pytest
from django.core.management import call_command
from knox.auth import TokenAuthentication
from knox.models import AuthToken

from helpdesk.accounts.models import Organization, User
from helpdesk.outbox.models import OutboxEvent
from helpdesk.sla.models import SlaPolicy
from helpdesk.tickets.models import Comment, Macro, Queue, Ticket


@pytest.mark.django_db(transaction=True)
def test_seed_demo_is_idempotent_and_keeps_working_credentials(tmp_path: Path) -> None:
    output = tmp_path / "demo.json"
    call_command("seed_demo", output=output)
    first = json.loads(output.read_text())

    def counts() -> tuple[int, ...]:
        return (
            Organization.objects.count(),
            User.objects.count(),
            Ticket.objects.count(),
            Comment.objects.count(),
            OutboxEvent.objects.count(),
        )

    before = counts()
    call_command("seed_demo", output=output)
    second = json.loads(output.read_text())
    assert counts() == before
    assert second == first  # passwords and tokens still work, so they are kept

    assert [org["slug"] for org in first["orgs"]] == ["acme", "globex"]
    # A lived-in helpdesk: queues, SLA policies, conversations with notes, a merged duplicate.
    assert Ticket.objects.count() == 6
    assert Ticket.objects.filter(merged_into__isnull=False).count() == 2
    assert Comment.objects.filter(public=False).exists()
    assert Queue.objects.count() == 6
    assert Macro.objects.count() == 4
    assert SlaPolicy.objects.count() == 8
    for org in first["orgs"]:
        for user in [org["admin"], *org["agents"], *org["customers"]]:
            found, _ = TokenAuthentication().authenticate_credentials(user["token"].encode())
            assert found.email == user["email"]
            assert found.check_password(user["password"])
            assert found.organization.slug == org["slug"]
        bot, _ = TokenAuthentication().authenticate_credentials(org["bot_api_key"].encode())
        assert bot.role == "bot"
    assert output.stat().st_mode & 0o077 == 0  # credentials readable by their owner only


@pytest.mark.django_db(transaction=True)
def test_seed_demo_replaces_credentials_that_no_longer_work(tmp_path: Path) -> None:
    output = tmp_path / "demo.json"
    call_command("seed_demo", output=output)
    first = json.loads(output.read_text())
    admin = first["orgs"][0]["admin"]
    AuthToken.objects.filter(user__email=admin["email"]).delete()

    call_command("seed_demo", output=output)
    renewed = json.loads(output.read_text())["orgs"][0]["admin"]
    assert renewed["token"] != admin["token"]
    assert renewed["password"] == admin["password"]
