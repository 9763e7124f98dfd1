"""The ticket domain through the API: conversation, history, merge, links, macros, assignment,
filters and search, attachments, and what customers never see."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.accounts.models import Availability, Company, Role
from helpdesk.outbox.models import OutboxEvent
from helpdesk.tickets.models import AssignmentStrategy, Queue, Status, Ticket
from helpdesk.tickets.services import comment_create, ticket_create
from helpdesk_shared import CommentCreated, parse_event
from tests.factories import client_for, make_user
from tests.world import Tenant, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db: None) -> Tenant:
    return make_tenant("acme")


def _url(ticket: Ticket, tail: str = "") -> str:
    return f"/api/v1/tickets/{ticket.number}/{tail}"


# --- Internal notes never reach a customer ----------------------------------------------------


def test_customer_never_sees_internal_notes_anywhere(acme: Tenant) -> None:
    customer = acme.client(Role.CUSTOMER)
    detail = customer.get(_url(acme.ticket)).json()
    assert [c["body"] for c in detail["comments"]] == ["We are on it"]
    assert detail["triage"] is None
    listed = customer.get(_url(acme.ticket, "comments")).json()
    assert all(c["public"] for c in listed)
    history = customer.get(_url(acme.ticket, "history")).json()
    assert "note" not in {h["field"] for h in history}
    search = customer.get("/api/v1/tickets/", {"q": "VIP"}).json()["results"]
    assert search == []
    # The note's event is addressed to staff only: realtime and webhooks route by it.
    note_events = [
        parse_event(row.payload)
        for row in OutboxEvent.objects.filter(event_type="comment.created").order_by("id")
    ]
    audiences = {e.data.body: e.audience for e in note_events if isinstance(e, CommentCreated)}
    assert audiences == {"We are on it": "all", "VIP, be nice": "staff"}


def test_agents_see_notes_and_replies_in_order(acme: Tenant) -> None:
    detail = acme.client(Role.AGENT).get(_url(acme.ticket)).json()
    assert [(c["body"], c["public"]) for c in detail["comments"]] == [
        ("We are on it", True),
        ("VIP, be nice", False),
    ]
    assert detail["comments"][0]["attachments"][0]["name"] == "receipt.txt"


def test_customer_cannot_write_a_note(acme: Tenant) -> None:
    response = acme.client(Role.CUSTOMER).post(
        _url(acme.ticket, "comments"), {"body": "x", "public": False}, format="json"
    )
    assert response.status_code == 403


def test_company_colleagues_see_each_others_tickets_when_the_company_shares(acme: Tenant) -> None:
    company = Company.objects.create(organization=acme.org, name="Initech", shares_tickets=False)
    first = acme.users[Role.CUSTOMER]
    first.company = company
    first.save()
    colleague = make_user(acme.org, Role.CUSTOMER)
    colleague.company = company
    colleague.save()
    client = client_for(colleague)
    assert client.get(_url(acme.ticket)).status_code == 404
    company.shares_tickets = True
    company.save()
    colleague.refresh_from_db()
    assert client.get(_url(acme.ticket)).status_code == 200
    assert client.get("/api/v1/tickets/").json()["results"]


# --- Replies move the ticket -----------------------------------------------------------------


def test_first_public_staff_reply_is_the_first_response_and_opens_the_ticket(
    acme: Tenant,
) -> None:
    customer = acme.users[Role.CUSTOMER]
    ticket = ticket_create(requester=customer, subject="Help", description="Please")
    comment_create(ticket_id=ticket.pk, author=acme.users[Role.AGENT], body="note", public=False)
    after_note = Ticket.objects.get(pk=ticket.pk)
    assert (after_note.first_response_at, after_note.status) == (None, Status.NEW)
    comment_create(ticket_id=ticket.pk, author=acme.users[Role.AGENT], body="Hello")
    after_reply = Ticket.objects.get(pk=ticket.pk)
    assert after_reply.first_response_at is not None
    assert after_reply.status == Status.OPEN


def test_customer_reply_reopens_a_pending_ticket(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    etag = agent.get(_url(acme.ticket))["ETag"]
    agent.patch(_url(acme.ticket), {"status": "pending"}, format="json", HTTP_IF_MATCH=etag)
    acme.client(Role.CUSTOMER).post(
        _url(acme.ticket, "comments"), {"body": "still broken"}, format="json"
    )
    acme.ticket.refresh_from_db()
    assert acme.ticket.status == Status.OPEN


def test_a_reply_with_a_stale_if_match_is_refused(acme: Tenant) -> None:
    agent, other = acme.client(Role.AGENT), acme.client(Role.ADMIN)
    seen = agent.get(_url(acme.ticket))["ETag"]
    assert (
        other.post(
            _url(acme.ticket, "comments"), {"body": "I got this"}, format="json", HTTP_IF_MATCH=seen
        ).status_code
        == 201
    )
    response = agent.post(
        _url(acme.ticket, "comments"), {"body": "Me too"}, format="json", HTTP_IF_MATCH=seen
    )
    assert response.status_code == 412
    assert response.json()["current"]["comments"][-1]["body"] == "I got this"
    assert acme.ticket.comments.filter(body="Me too").count() == 0


def test_closed_tickets_take_no_replies(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    agent.patch(_url(acme.ticket), {"status": "solved"}, format="json")
    agent.patch(_url(acme.ticket), {"status": "closed"}, format="json")
    response = agent.post(_url(acme.ticket, "comments"), {"body": "late"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


# --- Attachments -------------------------------------------------------------------------------


def test_attachment_upload_and_download(acme: Tenant, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    agent = acme.client(Role.AGENT)
    upload = SimpleUploadedFile("log.txt", b"error 42", content_type="application/x-evil")
    response = agent.post(
        _url(acme.ticket, "comments"),
        {"body": "log attached", "attachments": [upload]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    attachment = response.json()["attachments"][0]
    assert attachment["content_type"] == "text/plain"  # from the name, not the client's claim
    download = acme.client(Role.CUSTOMER).get(attachment["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"error 42"  # type: ignore[attr-defined]


def test_oversized_and_disallowed_attachments(acme: Tenant, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_MAX_BYTES = 10
    agent = acme.client(Role.AGENT)
    big = SimpleUploadedFile("big.txt", b"x" * 11)
    response = agent.post(
        _url(acme.ticket, "comments"), {"body": "b", "attachments": [big]}, format="multipart"
    )
    assert response.status_code == 413
    exe = SimpleUploadedFile("run.exe", b"MZ")
    response = agent.post(
        _url(acme.ticket, "comments"), {"body": "b", "attachments": [exe]}, format="multipart"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not acme.ticket.comments.filter(body="b").exists()  # nothing half-written


def test_customer_cannot_download_a_notes_attachment(
    acme: Tenant, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("secret.txt", b"internal")
    response = acme.client(Role.AGENT).post(
        _url(acme.ticket, "comments"),
        {"body": "n", "public": "false", "attachments": [upload]},
        format="multipart",
    )
    url = response.json()["attachments"][0]["url"]
    assert acme.client(Role.CUSTOMER).get(url).status_code == 404
    assert acme.client(Role.ADMIN).get(url).status_code == 200


# --- History, merge, links, macros ------------------------------------------------------------


def test_history_lists_every_change_with_actor_and_request_id(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    agent.patch(
        _url(acme.ticket),
        {"priority": "urgent", "tags": ["vip"]},
        format="json",
        HTTP_X_REQUEST_ID="req-history-1",
    )
    history = agent.get(_url(acme.ticket, "history")).json()
    changes = [(h["field"], h["old"], h["new"]) for h in history]
    assert ("priority", "normal", "urgent") in changes
    assert ("tags", "", "vip") in changes
    entry = next(h for h in history if h["field"] == "priority")
    assert entry["actor"]["id"] == acme.users[Role.AGENT].pk
    assert entry["request_id"] == "req-history-1"


def test_merge_moves_comments_and_closes_the_source_with_a_link(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    comment_create(
        ticket_id=acme.second.pk, author=acme.users[Role.CUSTOMER], body="second's reply"
    )
    response = agent.post(_url(acme.second, "merge"), {"into": acme.ticket.number}, format="json")
    assert response.status_code == 200, response.content
    bodies = [c["body"] for c in response.json()["comments"]]
    assert "second's reply" in bodies
    source = agent.get(_url(acme.second)).json()
    assert source["status"] == "closed"
    assert source["merged_into"] == acme.ticket.number
    history = agent.get(_url(acme.ticket, "history")).json()
    assert sum(1 for h in history if h["event_type"] == "ticket.created") == 2  # carried over
    again = agent.post(_url(acme.second, "merge"), {"into": acme.ticket.number}, format="json")
    assert again.status_code == 409
    itself = agent.post(_url(acme.ticket, "merge"), {"into": acme.ticket.number}, format="json")
    assert itself.status_code == 409


def test_links_are_symmetric(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    assert (
        agent.post(
            _url(acme.ticket, "links"), {"number": acme.second.number}, format="json"
        ).status_code
        == 201
    )
    assert [t["number"] for t in agent.get(_url(acme.second, "links")).json()] == [
        acme.ticket.number
    ]
    assert (
        agent.delete(f"/api/v1/tickets/{acme.second.number}/links/{acme.ticket.number}").status_code
        == 204
    )
    assert agent.get(_url(acme.ticket, "links")).json() == []


def test_macro_fills_placeholders_and_sets_fields(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    response = agent.post(_url(acme.ticket, f"macros/{acme.macro.pk}/apply"))
    assert response.status_code == 200, response.content
    body = response.json()
    first_name = acme.users[Role.CUSTOMER].full_name.split()[0]
    assert (
        body["comments"][-1]["body"] == f"Hi {first_name}, thanks for ticket #{acme.ticket.number}."
    )
    assert body["status"] == "pending"


def test_macro_actions_are_validated(acme: Tenant) -> None:
    admin = acme.client(Role.ADMIN)
    response = admin.post(
        "/api/v1/macros/", {"name": "Bad", "actions": {"owner": 1}}, format="json"
    )
    assert response.status_code == 400
    assert "actions" in response.json()["details"]


# --- Assignment ------------------------------------------------------------------------------


def test_round_robin_skips_agents_marked_away(acme: Tenant) -> None:
    agents = [make_user(acme.org, Role.AGENT) for _ in range(3)]
    queue = Queue.objects.create(
        organization=acme.org, name="Tech", assignment=AssignmentStrategy.ROUND_ROBIN
    )
    queue.members.set(agents)
    client_for(agents[1]).patch("/api/v1/me", {"availability": "away"}, format="json")
    customer = acme.users[Role.CUSTOMER]
    assigned = [
        ticket_create(requester=customer, subject=f"t{i}", description="d", queue=queue).assignee_id
        for i in range(4)
    ]
    assert assigned == [agents[0].pk, agents[2].pk, agents[0].pk, agents[2].pk]
    assert agents[1].__class__.objects.get(pk=agents[1].pk).availability == Availability.AWAY


def test_least_open_picks_the_agent_with_fewest_open_tickets(acme: Tenant) -> None:
    busy, free = make_user(acme.org, Role.AGENT), make_user(acme.org, Role.AGENT)
    queue = Queue.objects.create(
        organization=acme.org, name="Ops", assignment=AssignmentStrategy.LEAST_OPEN
    )
    queue.members.set([busy, free])
    customer = acme.users[Role.CUSTOMER]
    for i in range(2):
        ticket_create(requester=customer, subject=f"b{i}", description="d", assignee=busy)
    ticket = ticket_create(requester=customer, subject="new", description="d", queue=queue)
    assert ticket.assignee_id == free.pk


def test_moving_a_ticket_into_an_automatic_queue_assigns_it(acme: Tenant) -> None:
    agent = make_user(acme.org, Role.AGENT)
    queue = Queue.objects.create(
        organization=acme.org, name="Auto", assignment=AssignmentStrategy.ROUND_ROBIN
    )
    queue.members.set([agent])
    response = acme.client(Role.ADMIN).patch(_url(acme.ticket), {"queue": queue.pk}, format="json")
    assert response.json()["assignee"]["id"] == agent.pk


def test_assignee_must_be_staff_of_the_organization(acme: Tenant) -> None:
    other = make_tenant("globex")
    response = acme.client(Role.ADMIN).patch(
        _url(acme.ticket), {"assignee": other.users[Role.AGENT].pk}, format="json"
    )
    assert response.status_code == 400
    assert "assignee" in response.json()["details"]


# --- Filters, search, pagination -------------------------------------------------------------


def test_filters_combine(acme: Tenant) -> None:
    customer = acme.users[Role.CUSTOMER]
    urgent = ticket_create(
        requester=customer,
        subject="Server down",
        description="500s",
        priority="urgent",
        queue=acme.queue,
        tags=["outage"],
    )
    agent = acme.client(Role.AGENT)

    def numbers(**params: str) -> list[int]:
        response = agent.get("/api/v1/tickets/", params)
        assert response.status_code == 200, response.content
        return [row["number"] for row in response.json()["results"]]

    assert numbers(priority="urgent") == [urgent.number]
    assert numbers(queue=str(acme.queue.pk), tag="outage") == [urgent.number]
    assert urgent.number not in numbers(queue="none")
    assert numbers(status="unsolved", priority="urgent,high") == [urgent.number]
    assert numbers(q="server") == [urgent.number]
    assert numbers(assignee="none", priority="urgent") == [urgent.number]
    assert numbers(requester=str(customer.pk), sort="created")[0] == acme.ticket.number


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "nope"}, "status"),
        ({"priority": "urgent,meh"}, "priority"),
        ({"queue": "abc"}, "queue"),
        ({"assignee": "someone"}, "assignee"),
        ({"sort": "random"}, "sort"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"colour": "red"}, "colour"),
        ({"sla": "late"}, "sla"),
    ],
)
def test_bad_filters_are_400_with_the_field(
    acme: Tenant, params: dict[str, str], field: str
) -> None:
    response = acme.client(Role.AGENT).get("/api/v1/tickets/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()["details"]


def test_saved_view_applies_its_filters(acme: Tenant) -> None:
    agent = acme.client(Role.AGENT)
    ticket_create(
        requester=acme.users[Role.CUSTOMER], subject="Hot", description="d", priority="urgent"
    )
    view = agent.post(
        "/api/v1/views/", {"name": "Urgent", "filters": {"priority": "urgent"}}, format="json"
    ).json()
    rows = agent.get("/api/v1/tickets/", {"view": str(view["id"])}).json()["results"]
    assert [r["priority"] for r in rows] == ["urgent"]
    bad = agent.post("/api/v1/views/", {"name": "X", "filters": {"colour": "red"}}, format="json")
    assert bad.status_code == 400


def test_cursor_pagination_walks_every_ticket_once(acme: Tenant) -> None:
    customer = acme.users[Role.CUSTOMER]
    for i in range(7):
        ticket_create(requester=customer, subject=f"p{i}", description="d")
    agent = acme.client(Role.AGENT)
    seen: list[int] = []
    url: str | None = "/api/v1/tickets/?page_size=3"
    while url:
        page = agent.get(url).json()
        seen += [row["number"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen, reverse=True) == seen
    assert len(seen) == len(set(seen)) == 9


# --- No N+1 ------------------------------------------------------------------------------------


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_list_queries_do_not_grow_with_page_size(acme: Tenant, monkeypatch: Any) -> None:
    # No list cache: count the real reads.
    monkeypatch.setattr("helpdesk.tickets.cache.list_page_lookup", lambda **_: (None, None))
    customer = acme.users[Role.CUSTOMER]
    for i in range(30):
        ticket_create(
            requester=customer, subject=f"n{i}", description="d", tags=["a", "b"], queue=acme.queue
        )
    agent = acme.client(Role.AGENT)
    agent.get("/api/v1/tickets/?page_size=1")  # the token's first use is recorded once
    small = _queries(agent, "/api/v1/tickets/?page_size=2")
    large = _queries(agent, "/api/v1/tickets/?page_size=30")
    assert small == large
    assert large <= 5


def test_detail_queries_do_not_grow_with_comments(acme: Tenant, monkeypatch: Any) -> None:
    # No page cache: count the real reads.
    monkeypatch.setattr("helpdesk.tickets.cache.ticket_page_lookup", lambda **_: (None, None))
    agent = acme.client(Role.AGENT)
    agent.get("/api/v1/tickets/?page_size=1")
    before = _queries(agent, _url(acme.ticket))
    for i in range(10):
        comment_create(ticket_id=acme.ticket.pk, author=acme.users[Role.AGENT], body=f"c{i}")
    after = _queries(agent, _url(acme.ticket))
    assert before == after
