"""The reports' numbers: a handful of aggregate queries per organization, cached.

Each section is one or two ``GROUP BY`` queries (never a loop over tickets), so a report costs
the same however many tickets there are in the window. The whole overview is cached in Redis
under the organization's ticket-list version (``helpdesk.tickets.cache``): every committed
ticket write bumps it, so a report never shows a count from before a change, and the 30 s
expiry bounds how late an SLA breach (written by the scheduler) appears.

Days are UTC calendar days (the core's ``TIME_ZONE``).
"""

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Exists, F, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from helpdesk.accounts.models import User
from helpdesk.sla.models import SlaEventKind, SlaPolicy, TicketSla, TicketSlaEvent
from helpdesk.tickets import cache
from helpdesk.tickets.models import Priority, Ticket, TriageCorrection
from helpdesk.tickets.services import OPEN_STATUSES

MAX_DAYS = 90
DEFAULT_DAYS = 14
# Backlog age buckets: (label, lower bound of age in days); the last one is open-ended.
AGE_BUCKETS: tuple[tuple[str, int], ...] = (
    ("< 1 day", 0),
    ("1-3 days", 1),
    ("3-7 days", 3),
    ("> 7 days", 7),
)


def _days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=n) for n in range(count)]


def _per_day(rows: Any, key: str, days: list[date]) -> list[int]:
    counts: dict[date, int] = {}
    for row in rows:
        day = row[key]
        if isinstance(day, datetime):  # some backends give a datetime for TruncDate
            day = day.date()
        if isinstance(day, str):
            day = date.fromisoformat(day[:10])
        counts[day] = counts.get(day, 0) + int(row["n"])
    return [counts.get(day, 0) for day in days]


def _minutes(value: timedelta | None) -> float | None:
    return round(value.total_seconds() / 60, 1) if value is not None else None


def report_volume(*, organization_id: int, days: list[date], since: datetime) -> dict[str, Any]:
    """Tickets created and solved per day."""
    tickets = Ticket.objects.filter(organization_id=organization_id)
    created = (
        tickets.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    solved = (
        tickets.filter(solved_at__gte=since)
        .annotate(day=TruncDate("solved_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    return {
        "days": [d.isoformat() for d in days],
        "created": _per_day(created, "day", days),
        "solved": _per_day(solved, "day", days),
    }


def report_response_times(*, organization_id: int, since: datetime) -> list[dict[str, Any]]:
    """Per priority: the average business time to first response and to resolution of the
    tickets answered or resolved in the window, how many met the target, and the target."""
    slas = TicketSla.objects.filter(ticket__organization_id=organization_id, active=True)
    first = {
        row["priority"]: row
        for row in slas.filter(first_responded_at__gte=since)
        .values("priority")
        .annotate(
            n=Count("ticket_id"),
            avg=Avg("first_response_consumed"),
            met=Count("ticket_id", filter=Q(first_response_breached_at__isnull=True)),
        )
    }
    resolved = {
        row["priority"]: row
        for row in slas.filter(resolved_at__gte=since)
        .values("priority")
        .annotate(
            n=Count("ticket_id"),
            avg=Avg("resolution_consumed"),
            met=Count("ticket_id", filter=Q(resolution_breached_at__isnull=True)),
        )
    }
    targets = {
        p.priority: p
        for p in SlaPolicy.objects.filter(organization_id=organization_id).only(
            "priority", "first_response_minutes", "resolution_minutes"
        )
    }
    out = []
    for priority in Priority.values:
        policy = targets.get(priority)
        fr, res = first.get(priority), resolved.get(priority)
        out.append(
            {
                "priority": priority,
                "first_response": {
                    "count": fr["n"] if fr else 0,
                    "met": fr["met"] if fr else 0,
                    "avg_minutes": _minutes(fr["avg"]) if fr else None,
                    "target_minutes": policy.first_response_minutes if policy else None,
                },
                "resolution": {
                    "count": res["n"] if res else 0,
                    "met": res["met"] if res else 0,
                    "avg_minutes": _minutes(res["avg"]) if res else None,
                    "target_minutes": policy.resolution_minutes if policy else None,
                },
            }
        )
    return out


def report_backlog(*, organization_id: int, now: datetime) -> list[dict[str, Any]]:
    """Unsolved tickets per queue, by age (one query)."""
    bounds = [now - timedelta(days=lower) for _, lower in AGE_BUCKETS]
    buckets: dict[str, Count] = {}
    for index, (_, _lower) in enumerate(AGE_BUCKETS):
        older = Q(created_at__lte=bounds[index])
        if index + 1 < len(AGE_BUCKETS):
            older &= Q(created_at__gt=bounds[index + 1])
        buckets[f"b{index}"] = Count("id", filter=older)
    rows = (
        Ticket.objects.filter(organization_id=organization_id, status__in=OPEN_STATUSES)
        .values("queue_id", "queue__name")
        .annotate(total=Count("id"), **buckets)
        .order_by("queue__name")
    )
    return [
        {
            "queue_id": row["queue_id"],
            "queue": row["queue__name"] or "No queue",
            "total": row["total"],
            "ages": [row[f"b{i}"] for i in range(len(AGE_BUCKETS))],
        }
        for row in rows
    ]


def report_breaches(*, organization_id: int, days: list[date], since: datetime) -> dict[str, Any]:
    """SLA breaches per day and metric, from the SLA timelines (one query)."""
    rows = list(
        TicketSlaEvent.objects.filter(
            ticket__organization_id=organization_id, kind=SlaEventKind.BREACHED, at__gte=since
        )
        .annotate(day=TruncDate("at"))
        .values("day", "metric")
        .annotate(n=Count("id"))
    )
    return {
        "days": [d.isoformat() for d in days],
        "first_response": _per_day(
            [r for r in rows if r["metric"] == "first_response"], "day", days
        ),
        "resolution": _per_day([r for r in rows if r["metric"] == "resolution"], "day", days),
    }


def report_triage(*, organization_id: int, since: datetime) -> dict[str, Any]:
    """What agents did with the AI's triage of the window's tickets: kept as the AI said
    (accepted), changed (corrected: a correction was recorded), or not decided yet."""
    corrected = TriageCorrection.objects.filter(ticket_id=OuterRef("pk"))
    totals = (
        Ticket.objects.filter(organization_id=organization_id, ai_triaged_at__gte=since)
        .annotate(was_corrected=Exists(corrected))
        .aggregate(
            triaged=Count("id"),
            corrected=Count("id", filter=Q(was_corrected=True)),
            accepted=Count(
                "id",
                filter=Q(was_corrected=False) & ~Q(ai_category="") & Q(category=F("ai_category")),
            ),
            auto_applied=Count("id", filter=Q(ai_applied=True)),
        )
    )
    by_field = dict(
        TriageCorrection.objects.filter(organization_id=organization_id, created_at__gte=since)
        .values_list("field")
        .annotate(n=Count("id"))
        .values_list("field", "n")
    )
    triaged = totals["triaged"] or 0
    return {
        "triaged": triaged,
        "accepted": totals["accepted"] or 0,
        "corrected": totals["corrected"] or 0,
        "undecided": max(0, triaged - (totals["accepted"] or 0) - (totals["corrected"] or 0)),
        "auto_applied": totals["auto_applied"] or 0,
        "corrections_by_field": {
            "category": by_field.get("category", 0),
            "priority": by_field.get("priority", 0),
        },
    }


def report_totals(*, organization_id: int, since: datetime, today: datetime) -> dict[str, int]:
    tickets = Ticket.objects.filter(organization_id=organization_id)
    counts = tickets.aggregate(
        created=Count("id", filter=Q(created_at__gte=since)),
        created_today=Count("id", filter=Q(created_at__gte=today)),
        solved=Count("id", filter=Q(solved_at__gte=since)),
        open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
    )
    breaches = TicketSlaEvent.objects.filter(
        ticket__organization_id=organization_id, kind=SlaEventKind.BREACHED, at__gte=since
    ).count()
    return {**{k: int(v or 0) for k, v in counts.items()}, "breaches": breaches}


def report_overview(
    *, organization_id: int, days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Every section of the reports page for the last ``days`` days (today included)."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days - 1)
    day_list = _days(since.date(), days)
    return {
        "days": days,
        "since": since.isoformat(),
        "generated_at": now.isoformat(),
        "totals": report_totals(organization_id=organization_id, since=since, today=today),
        "volume": report_volume(organization_id=organization_id, days=day_list, since=since),
        "response_times": report_response_times(organization_id=organization_id, since=since),
        "backlog": {
            "buckets": [label for label, _ in AGE_BUCKETS],
            "queues": report_backlog(organization_id=organization_id, now=now),
        },
        "breaches": report_breaches(organization_id=organization_id, days=day_list, since=since),
        "triage": report_triage(organization_id=organization_id, since=since),
    }


def report_overview_cached(*, user: User, days: int) -> dict[str, Any]:
    """The overview from the cache when this version of the organization's tickets has one."""
    key, cached = cache.document_lookup(user=user, name=f"reports:overview:{days}")
    if cached is not None:
        return cached
    body = report_overview(organization_id=user.organization_id or 0, days=days)
    if key:
        cache.document_put(key, body)
    return body
