"""The part of ``bench.core_api`` that runs inside the core: seeding and counting queries.

Run by the benchmark as a child process in ``services/core-django`` with the core's own
environment (``DJANGO_SETTINGS_MODULE=config.settings``, the benchmark's database and Redis):

    python bench/core_api_data.py seed --org acme --tickets 10000 --out seed.json
    python bench/core_api_data.py queries --token ... --number 42 --out queries.json

``seed`` bulk-inserts tickets as the services would have left them (numbers, statuses,
priorities, queues, assignees, tags, three comments of which one internal note, AI triage,
SLA clocks, the audit trail), fills the full-text column in one SQL statement the way
``helpdesk.tickets.services._refresh_search`` does, then runs ``VACUUM ANALYZE``.

``queries`` sends one request per endpoint through Django's test client (the whole middleware
stack, the same code gunicorn runs) and counts its SQL with ``CaptureQueriesContext``.

The core is not importable from the repository root (it is a uv workspace member without a
package), so its modules are imported inside the functions, after ``django.setup()``; to mypy
they are ``Any``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import django

STATUSES = (  # (status, share): a working helpdesk's backlog, most of it done
    ("new", 0.12),
    ("open", 0.28),
    ("pending", 0.12),
    ("on_hold", 0.05),
    ("solved", 0.23),
    ("closed", 0.20),
)
PRIORITIES = (("low", 0.2), ("normal", 0.5), ("high", 0.2), ("urgent", 0.1))
TAGS = (
    "refund",
    "shipping",
    "damaged",
    "vip",
    "invoice",
    "login",
    "password-reset",
    "bug",
    "feature-request",
    "escalated",
    "warranty",
    "returns",
    "mobile-app",
    "api",
    "outage",
    "onboarding",
    "cancellation",
    "gdpr",
    "feedback",
    "sizing",
)
CATEGORIES = (
    "billing",
    "refund_return",
    "technical_issue",
    "bug_report",
    "account_access",
    "shipping_delivery",
    "general_inquiry",
)
TOPICS = (
    ("Order #{n} arrived damaged", "The box was crushed and the {item} inside is broken."),
    ("Where is my order #{n}?", "Tracking has not moved for {d} days and I need the {item}."),
    ("Refund for order #{n}", "I sent the {item} back {d} days ago and have no refund yet."),
    ("Cannot sign in", "The reset link says it expired; I tried {d} times since this morning."),
    ("Invoice {n} shows the wrong VAT number", "Please correct it; our accountant needs it."),
    ("The app crashes when I open {item} details", "Since the last update, every time."),
    ("Change the delivery address of order #{n}", "I moved; the {item} should go to my office."),
    ("Warranty claim for a {item}", "The zip broke after {d} weeks of normal use."),
    ("Question about the {item} sizes", "Does it run small? I am between two sizes."),
    ("Cancel my subscription", "Please cancel before the next invoice on the {d}th."),
)
ITEMS = ("tent", "sleeping bag", "backpack", "rain jacket", "stove", "headlamp", "boots")
PHRASES = (
    "thanks for the quick answer",
    "I checked again and the problem is still there",
    "the order was placed on the website with the usual card",
    "could you please look into it",
    "let me know what you need from me",
    "photos are attached to the first message",
    "we also tried another browser and cleared the cache",
    "nothing changed since yesterday",
    "the courier says it was delivered",
    "our team needs this sorted before the weekend",
    "the same happened to a colleague last month",
    "I would prefer a replacement over a refund",
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _sentences(rng: random.Random, low: int, high: int) -> str:
    count = rng.randint(low, high)
    return " ".join(
        ", ".join(rng.sample(PHRASES, k=rng.randint(1, 3))).capitalize() + "." for _ in range(count)
    )


def _core(module: str) -> Any:
    """A module of the core (not importable before ``_setup``; untyped here)."""
    return importlib.import_module(module)


def _setup() -> None:
    sys.path.insert(0, str(Path.cwd()))  # services/core-django: config, helpdesk
    django.setup()


def _copy(model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (attribute name: value) with PostgreSQL's COPY, the fastest bulk insert.

    Every concrete column is written (the model's default where a row has no value), except an
    automatic primary key the row does not set.
    """
    from django.db import connection, models
    from psycopg.types.json import Jsonb

    fields = [
        f
        for f in model._meta.concrete_fields
        if not (isinstance(f, models.AutoField) and f.attname not in rows[0])
    ]
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            values = []
            for f in fields:
                value = row.get(f.attname, defaults[f.attname])
                values.append(
                    Jsonb(value) if f.attname in json_fields and value is not None else value
                )
            copy.write_row(values)


def _ids(model: Any, count: int) -> list[int]:
    """``count`` ids from the table's own sequence, so that rows can refer to each other."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [int(r[0]) for r in cursor.fetchall()]


def seed(*, org_slug: str, tickets: int, customers: int, seed_value: int) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    accounts = _core("helpdesk.accounts.models")
    Organization, Role, User = accounts.Organization, accounts.Role, accounts.User
    sla_models = _core("helpdesk.sla.models")
    SlaEventKind, SlaPolicy = sla_models.SlaEventKind, sla_models.SlaPolicy
    TicketSla, TicketSlaEvent = sla_models.TicketSla, sla_models.TicketSlaEvent
    sla_services = _core("helpdesk.sla.services")
    clock = _core("helpdesk.sla.clock")
    ticket_lists_changed = _core("helpdesk.tickets.cache").ticket_lists_changed
    tickets_models = _core("helpdesk.tickets.models")
    AuditEntry, Comment = tickets_models.AuditEntry, tickets_models.Comment
    Queue, Tag, Ticket = tickets_models.Queue, tickets_models.Tag, tickets_models.Ticket

    started = time.perf_counter()
    steps: dict[str, float] = {}

    def step(name: str) -> None:
        steps[name] = round(time.perf_counter() - started - sum(steps.values()), 2)

    rng = random.Random(seed_value)  # noqa: S311 (made-up data, not secrets)
    now = timezone.now()
    span = timedelta(days=60)
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(slug=org_slug)
        staff = list(
            User.objects.filter(organization=org, role__in=[Role.AGENT, Role.ADMIN]).order_by("id")
        )
        agents = [u for u in staff if u.role == Role.AGENT] or staff
        roles = {u.pk: u.role for u in staff}
        domain = f"customers.{org_slug}.example"
        User.objects.bulk_create(
            [
                User(
                    email=f"bench-customer-{i}@{domain}",
                    full_name=f"Bench Customer {i}",
                    organization=org,
                    role=Role.CUSTOMER,
                    password="!bench-no-password",  # noqa: S106 (an unusable password)
                )
                for i in range(customers)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        requesters = list(
            User.objects.filter(organization=org, role=Role.CUSTOMER).values_list("id", flat=True)
        )
        roles.update({pk: Role.CUSTOMER for pk in requesters})
        queues = list(Queue.objects.filter(organization=org).values_list("id", flat=True))
        Tag.objects.bulk_create(
            [Tag(organization=org, name=name) for name in TAGS], ignore_conflicts=True
        )
        tag_ids = list(
            Tag.objects.filter(organization=org, name__in=TAGS).values_list("id", flat=True)
        )
        agent_ids = [a.pk for a in agents]
        # One policy snapshot per priority (with its calendar and holidays) taken at the
        # oldest ticket's creation, as ``sla_ticket_opened`` would have taken it.
        templates: dict[str, Any] = {}
        for policy in SlaPolicy.objects.filter(organization=org).select_related("calendar"):
            template = TicketSla(priority=policy.priority)
            sla_services._apply_policy(template, policy, at=now - span)
            templates[policy.priority] = template

        first_number = org.last_ticket_number + 1
        created = sorted(now - span * rng.random() for _ in range(tickets))
        ticket_ids = _ids(Ticket, tickets)
        rows: list[dict[str, Any]] = []
        for i, (pk, at) in enumerate(zip(ticket_ids, created, strict=True)):
            status = _pick(rng, STATUSES)
            priority = _pick(rng, PRIORITIES)
            assigned = status != "new" or rng.random() < 0.3
            subject, description = rng.choice(TOPICS)
            fill = {
                "n": rng.randint(1000, 99999),
                "item": rng.choice(ITEMS),
                "d": rng.randint(2, 9),
            }
            age = now - at
            triaged = rng.random() < 0.6
            category = rng.choice(CATEGORIES)
            solved = status in ("solved", "closed")
            confidence = round(rng.uniform(0.4, 0.99), 3)
            rows.append(
                {
                    "id": pk,
                    "organization_id": org.pk,
                    "number": first_number + i,
                    "subject": subject.format(**fill),
                    "description": description.format(**fill) + " " + _sentences(rng, 1, 4),
                    "status": status,
                    "priority": priority,
                    "channel": "api" if rng.random() < 0.3 else "web",
                    "requester_id": rng.choice(requesters),
                    "category": category if rng.random() < 0.7 else "",
                    "queue_id": rng.choice(queues) if queues and rng.random() < 0.9 else None,
                    "assignee_id": rng.choice(agent_ids) if assigned else None,
                    "due_at": at + timedelta(days=rng.randint(1, 10))
                    if rng.random() < 0.1
                    else None,
                    "first_response_at": at + min(age * 0.2, timedelta(hours=6)),
                    "solved_at": at + min(age * 0.8, timedelta(days=3)) if solved else None,
                    "ai_category": category if triaged else "",
                    "ai_category_confidence": confidence if triaged else None,
                    "ai_priority": priority if triaged else "",
                    "ai_priority_confidence": confidence if triaged else None,
                    "ai_sentiment": rng.choice(("negative", "neutral")) if triaged else "",
                    "ai_sentiment_confidence": 0.8 if triaged else None,
                    "ai_language": "en" if triaged else "",
                    "ai_language_confidence": 0.99 if triaged else None,
                    "ai_model": "tfidf-logreg@3" if triaged else "",
                    "ai_applied": triaged and rng.random() < 0.5,
                    "ai_triaged_at": at + timedelta(seconds=2) if triaged else None,
                    "version": 4 + (status != "new") + solved + (status == "closed"),
                    "created_at": at,
                    "updated_at": at + min(age * 0.9, timedelta(days=4)),
                }
            )
        step("prepare")
        _copy(Ticket, rows)
        step("tickets")
        org.last_ticket_number = first_number + tickets - 1
        org.save(update_fields=["last_ticket_number"])

        links = [
            {"ticket_id": t["id"], "tag_id": tag}
            for t in rows
            for tag in rng.sample(tag_ids, k=rng.choice((0, 1, 1, 2, 2, 3)))
        ]
        if links:
            _copy(Ticket.tags.through, links)
        step("tags")

        # Three comments each: the agent's reply, an internal note, the requester's answer.
        comment_ids = iter(_ids(Comment, 3 * tickets))
        comments: list[dict[str, Any]] = []
        for t in rows:
            age = now - t["created_at"]
            agent = t["assignee_id"] or rng.choice(agent_ids)
            reply_at = t["first_response_at"]
            comments += [
                {
                    "id": next(comment_ids),
                    "ticket_id": t["id"],
                    "author_id": agent,
                    "body": f"Hi, thanks for reaching out. {_sentences(rng, 2, 5)}",
                    "public": True,
                    "created_at": reply_at,
                },
                {
                    "id": next(comment_ids),
                    "ticket_id": t["id"],
                    "author_id": agent,
                    "body": f"Internal: {_sentences(rng, 1, 3)}",
                    "public": False,
                    "created_at": reply_at + min(age * 0.05, timedelta(minutes=30)),
                },
                {
                    "id": next(comment_ids),
                    "ticket_id": t["id"],
                    "author_id": t["requester_id"],
                    "body": _sentences(rng, 1, 4),
                    "public": True,
                    "created_at": t["created_at"] + min(age * 0.5, timedelta(days=1)),
                },
            ]
        _copy(Comment, comments)
        step("comments")

        # The history, as _emit's _audit_rows writes it for each event.
        audit: list[dict[str, Any]] = []

        def entry(
            t: dict[str, Any], actor: int, kind: str, what: tuple[str, str | None, str], at: Any
        ) -> None:
            field, old, new = what
            audit.append(
                {
                    "ticket_id": t["id"],
                    "event_id": uuid.UUID(int=rng.getrandbits(128)),
                    "event_type": kind,
                    "field": field,
                    "old": old,
                    "new": new,
                    "actor_kind": "user",
                    "actor_id": actor,
                    "actor_role": roles.get(actor, ""),
                    "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                    "at": at,
                }
            )

        for index, t in enumerate(rows):
            reply, note, answer = comments[3 * index : 3 * index + 3]
            agent = reply["author_id"]
            entry(t, t["requester_id"], "ticket.created", ("status", None, "new"), t["created_at"])
            entry(
                t, agent, "comment.created", ("reply", None, str(reply["id"])), reply["created_at"]
            )
            if t["status"] != "new":
                entry(t, agent, "ticket.updated", ("status", "new", "open"), reply["created_at"])
            entry(t, agent, "comment.created", ("note", None, str(note["id"])), note["created_at"])
            entry(
                t,
                t["requester_id"],
                "comment.created",
                ("reply", None, str(answer["id"])),
                answer["created_at"],
            )
            if t["solved_at"] is not None:
                entry(t, agent, "ticket.updated", ("status", "open", "solved"), t["solved_at"])
            if t["status"] == "closed":
                entry(t, agent, "ticket.updated", ("status", "solved", "closed"), t["updated_at"])
        _copy(AuditEntry, audit)
        step("audit")

        # SLA clocks as the SLA services leave them: started at creation, first response met
        # at the agent's reply, paused while pending or on hold, stopped when solved. The clock
        # functions run on a TicketSla per ticket (never saved: its columns are copied).
        sla_fields = [f.attname for f in TicketSla._meta.concrete_fields]
        slas: list[dict[str, Any]] = []
        sla_events: list[dict[str, Any]] = []
        for t in rows:
            template = templates.get(t["priority"])
            sla = TicketSla(ticket_id=t["id"], priority=t["priority"], ticket_status="new")
            sla.started_at = t["created_at"]
            if template is None:
                sla_services._apply_policy(sla, None, at=t["created_at"])
            else:
                for name in (
                    "policy_id",
                    "active",
                    "first_response_minutes",
                    "resolution_minutes",
                    "warning_share",
                    "calendar_id",
                    "calendar_name",
                    "calendar_snapshot",
                ):
                    setattr(sla, name, getattr(template, name))
            clock.sync(sla, t["created_at"])
            if sla.active:
                sla_events.append(
                    {
                        "ticket_id": t["id"],
                        "kind": SlaEventKind.STARTED,
                        "metric": "",
                        "at": t["created_at"],
                        "detail": sla_services._policy_detail(sla),
                    }
                )
            # The agent's reply: first response met (and a new ticket opened) at that time.
            sla.first_responded_at = t["first_response_at"]
            if t["status"] != "new":
                sla.ticket_status = "open"
            clock.sync(sla, t["first_response_at"])
            # Then the ticket's last change: paused, solved, closed, or still running.
            sla.ticket_status = t["status"]
            if t["status"] in ("pending", "on_hold"):
                sla.paused_since = t["updated_at"]
            if t["solved_at"] is not None:
                sla.resolved_at = t["solved_at"]
            clock.sync(sla, t["solved_at"] or t["updated_at"])
            sla.updated_at = t["updated_at"]
            slas.append({name: getattr(sla, name) for name in sla_fields})
        _copy(TicketSla, slas)
        if sla_events:
            _copy(TicketSlaEvent, sla_events)
        step("sla")

        # The search document of _refresh_search (subject A, description B, public replies C),
        # for every new ticket in one statement.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE tickets_ticket AS t SET search_vector =
                    setweight(to_tsvector('simple'::regconfig, COALESCE(t.subject, '')), 'A')
                    || setweight(to_tsvector('simple'::regconfig, COALESCE(t.description, '')), 'B')
                    || setweight(to_tsvector('simple'::regconfig, COALESCE((
                        SELECT string_agg(c.body, ' ' ORDER BY c.id) FROM tickets_comment AS c
                        WHERE c.ticket_id = t.id AND c.public), '')), 'C')
                WHERE t.organization_id = %s AND t.number >= %s
                """,
                [org.pk, first_number],
            )
        step("search_vector")
    step("commit")
    with connection.cursor() as cursor:  # outside the transaction: VACUUM cannot run in one
        cursor.execute("VACUUM ANALYZE")
    step("vacuum_analyze")
    ticket_lists_changed(organization_id=org.pk)
    return {
        "organization_id": org.pk,
        "first_number": first_number,
        "last_number": first_number + tickets - 1,
        "tickets": len(rows),
        "comments": len(comments),
        "internal_notes": sum(1 for c in comments if not c["public"]),
        "tag_links": len(links),
        "audit_entries": len(audit),
        "sla_rows": len(slas),
        "sla_events": len(sla_events),
        "customers": len(requesters),
        "seconds": round(time.perf_counter() - started, 1),
        "step_seconds": steps,
    }


def queries(*, org_slug: str, token: str, number: int, paths: dict[str, str]) -> dict[str, Any]:
    """SQL per request for each endpoint, through the test client and the full middleware."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    Organization = _core("helpdesk.accounts.models").Organization
    ticket_lists_changed = _core("helpdesk.tickets.cache").ticket_lists_changed

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    organization_id = Organization.objects.get(slug=org_slug).pk
    body = {"subject": "Query count probe", "description": "How many statements?"}

    def bust() -> None:
        ticket_lists_changed(organization_id=organization_id)

    def nothing() -> None:
        pass

    cases: list[tuple[str, Callable[[], None], Callable[[], Any]]] = [
        ("list", nothing, lambda: client.get(paths["list"])),
        ("list_uncached", bust, lambda: client.get(paths["list"])),
        ("filtered", nothing, lambda: client.get(paths["filtered"])),
        ("filtered_uncached", bust, lambda: client.get(paths["filtered"])),
        ("detail", nothing, lambda: client.get(f"/api/v1/tickets/{number}/")),
        ("detail_uncached", bust, lambda: client.get(f"/api/v1/tickets/{number}/")),
        (
            "create",
            nothing,
            lambda: client.post("/api/v1/tickets/", body, content_type="application/json"),
        ),
    ]
    out: dict[str, Any] = {}
    for name, before, call in cases:
        call()  # warm: connections, the token's last-used stamp, the cache for cached cases
        before()
        with CaptureQueriesContext(connection) as captured:
            response = call()
        sql = [q["sql"] for q in captured.captured_queries]
        out[name] = {
            "status": response.status_code,
            "queries": len(sql),
            # Django counts BEGIN, COMMIT and savepoints among a request's queries too.
            "transaction_control": sum(
                1
                for q in sql
                if q.split(" ", 1)[0] in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
            ),
            "sql": sql,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("--org", required=True)
    seeding.add_argument("--tickets", type=int, default=10_000)
    seeding.add_argument("--customers", type=int, default=300)
    seeding.add_argument("--seed", type=int, default=3)
    seeding.add_argument("--out", type=Path, required=True)
    counting = sub.add_parser("queries")
    counting.add_argument("--org", required=True)
    counting.add_argument("--token", required=True)
    counting.add_argument("--number", type=int, required=True)
    counting.add_argument("--list", required=True)
    counting.add_argument("--filtered", required=True)
    counting.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    _setup()
    # Results go to a file: the core logs JSON lines on stdout.
    if args.command == "seed":
        result = seed(
            org_slug=args.org,
            tickets=args.tickets,
            customers=args.customers,
            seed_value=args.seed,
        )
    else:
        result = queries(
            org_slug=args.org,
            token=args.token,
            number=args.number,
            paths={"list": args.list, "filtered": args.filtered},
        )
    args.out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
