"""The SLA scheduler: each warning and breach announced once, through the outbox, on time."""

import os
import signal
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction

from helpdesk.accounts.models import Organization
from helpdesk.outbox.models import OutboxEvent
from helpdesk.sla.models import SlaPolicy, TicketSla, TicketSlaEvent
from helpdesk.sla.scheduler import SlaScheduler, run_forever
from helpdesk.tickets.models import Ticket
from helpdesk_shared import SlaBreached, SlaWarning, parse_event
from tests.test_sla_services import (
    berlin,
    calendar,
    normal,
    open_ticket,
    reply,
    set_status,
)

__all__ = ["calendar", "normal"]  # fixtures, imported for pytest


def announced() -> list[Any]:
    return [parse_event(row.payload) for row in OutboxEvent.objects.order_by("id")]


def run_at(when: datetime) -> int:
    with time_machine.travel(when, tick=False):
        return SlaScheduler().run_once()


@pytest.mark.django_db
def test_a_warning_is_announced_at_its_share_of_the_target(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    assert run_at(berlin(2025, 1, 6, 12, 59)) == 0
    assert run_at(berlin(2025, 1, 6, 13, 0, 5)) == 1
    [event] = announced()
    assert isinstance(event, SlaWarning)
    assert event.ticket_id == ticket.pk
    assert event.organization_id == org.pk
    assert event.audience == "staff"
    assert event.requester_id == ticket.requester_id
    assert event.actor.kind == "system"
    assert event.occurred_at == berlin(2025, 1, 6, 13)
    assert event.data.metric == "first_response"
    assert event.data.number == ticket.number
    assert event.data.due_at == berlin(2025, 1, 6, 14)
    assert event.data.target_minutes == 240
    assert event.data.elapsed_share == pytest.approx(0.75, abs=0.001)
    sla = TicketSla.objects.get(pk=ticket.pk)
    assert sla.first_response_warned_at == berlin(2025, 1, 6, 13)
    assert sla.next_alert_at == berlin(2025, 1, 6, 14)  # the breach, next
    assert TicketSlaEvent.objects.filter(ticket=ticket, kind="warning").count() == 1


@pytest.mark.django_db
def test_each_announcement_is_made_once(org: Organization, normal: SlaPolicy) -> None:
    open_ticket(org, berlin(2025, 1, 6, 10))
    assert run_at(berlin(2025, 1, 6, 13, 30)) == 1
    assert run_at(berlin(2025, 1, 6, 13, 31)) == 0
    assert run_at(berlin(2025, 1, 6, 14, 1)) == 1
    assert run_at(berlin(2025, 1, 6, 14, 2)) == 0
    assert [type(e) for e in announced()] == [SlaWarning, SlaBreached]
    breached = announced()[1]
    assert breached.occurred_at == berlin(2025, 1, 6, 14)
    assert breached.data.elapsed_share == pytest.approx(241 / 240, abs=0.001)


@pytest.mark.django_db
def test_a_breach_found_late_is_announced_without_a_stale_warning(
    org: Organization, normal: SlaPolicy
) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    assert run_at(berlin(2025, 1, 7, 12)) == 1  # the scheduler was down all afternoon
    [event] = announced()
    assert isinstance(event, SlaBreached)
    assert event.data.metric == "first_response"
    sla = TicketSla.objects.get(pk=ticket.pk)
    assert sla.first_response_breached_at == berlin(2025, 1, 6, 14)
    assert sla.first_response_breach_sent
    assert sla.next_alert_at == sla.resolution_warn_at == berlin(2025, 1, 7, 14)


@pytest.mark.django_db
def test_a_late_reply_is_announced_as_a_breach(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    reply(ticket, berlin(2025, 1, 6, 15))  # before the scheduler noticed
    assert run_at(berlin(2025, 1, 6, 15, 0, 1)) == 1
    [event] = announced()
    assert isinstance(event, SlaBreached)
    assert event.data.due_at == berlin(2025, 1, 6, 14)
    assert event.data.elapsed_share == pytest.approx(300 / 240, abs=0.001)


@pytest.mark.django_db
def test_a_paused_ticket_is_not_announced(org: Organization, normal: SlaPolicy) -> None:
    ticket = open_ticket(org, berlin(2025, 1, 6, 10))
    set_status(ticket, "pending", berlin(2025, 1, 6, 11))
    assert run_at(berlin(2025, 1, 13)) == 0
    assert TicketSla.objects.get(pk=ticket.pk).next_alert_at is None


@pytest.mark.django_db
def test_the_scheduler_knows_when_to_wake_next(org: Organization, normal: SlaPolicy) -> None:
    open_ticket(org, berlin(2025, 1, 6, 10))
    open_ticket(org, berlin(2025, 1, 6, 9))
    assert SlaScheduler().next_alert_at() == berlin(2025, 1, 6, 12)


@pytest.mark.django_db
def test_run_forever_sleeps_until_the_next_instant_capped(
    org: Organization, normal: SlaPolicy
) -> None:
    open_ticket(org, berlin(2025, 1, 6, 10))  # warns at 13:00
    waits: list[float] = []
    passes = iter([False, False, True])
    with time_machine.travel(berlin(2025, 1, 6, 12, 59, 50), tick=False):
        run_forever(
            SlaScheduler(),
            should_stop=lambda: next(passes),
            wait=waits.append,
            max_wait=30,
        )
    assert waits == [10.0, 10.0]
    waits.clear()
    passes = iter([False, True])
    with time_machine.travel(berlin(2025, 1, 6, 11), tick=False):
        run_forever(SlaScheduler(), should_stop=lambda: next(passes), wait=waits.append)
    assert waits == [30.0]


@pytest.mark.django_db
def test_run_forever_keeps_going_when_the_database_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler = SlaScheduler()
    calls = {"n": 0}

    def failing(now: datetime) -> list[int]:
        calls["n"] += 1
        raise RuntimeError("database away")

    monkeypatch.setattr(scheduler, "due_ticket_ids", failing)
    sleeps: list[float] = []
    passes = iter([False, False, True])
    run_forever(
        scheduler, should_stop=lambda: next(passes), wait=sleeps.append, sleep=sleeps.append
    )
    assert calls["n"] == 2
    assert sleeps == [0.1, 0.2]


@pytest.mark.django_db
def test_the_command_once_announces_and_exits(org: Organization, normal: SlaPolicy) -> None:
    open_ticket(org, berlin(2025, 1, 6, 10))
    with time_machine.travel(berlin(2025, 1, 6, 14, 30), tick=False):
        call_command("run_sla_scheduler", "--once")
    assert [type(e) for e in announced()] == [SlaBreached]


@pytest.mark.django_db
def test_the_command_stops_gracefully_on_sigterm(org: Organization, normal: SlaPolicy) -> None:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    try:
        timer.start()
        call_command("run_sla_scheduler", "--max-wait", "20")
    finally:
        timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert time.monotonic() - started < 5


# --- concurrency (PostgreSQL: SQLite serializes writers and has no row locks) ----------------

postgres_only = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="row locks need PostgreSQL",
)


@pytest.fixture
def due_ticket(org: Organization, normal: SlaPolicy) -> Ticket:
    return open_ticket(org, berlin(2025, 1, 6, 10))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_ticket_being_changed_is_left_for_the_next_pass(due_ticket: Ticket) -> None:
    assert connection.vendor == "postgresql"
    locked, release = threading.Event(), threading.Event()

    def hold_the_ticket() -> None:
        try:
            with transaction.atomic():
                Ticket.objects.select_for_update().get(pk=due_ticket.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_ticket)
    holder.start()
    try:
        assert locked.wait(10)
        assert run_at(berlin(2025, 1, 6, 14, 30)) == 0  # skipped, not blocked
    finally:
        release.set()
        holder.join()
    assert run_at(berlin(2025, 1, 6, 14, 30)) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_schedulers_never_announce_twice(org: Organization, normal: SlaPolicy) -> None:
    for minute in range(20):
        open_ticket(org, berlin(2025, 1, 6, 9) + timedelta(minutes=minute))
    barrier = threading.Barrier(2)
    counts: list[int] = []
    now = berlin(2025, 1, 7, 12)  # every first response is overdue, no warning yet

    def scheduler() -> None:
        try:
            barrier.wait(10)
            counts.append(SlaScheduler(batch_size=50).run_once(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 20
    assert OutboxEvent.objects.count() == 20
    assert len({(e.ticket_id, e.type, e.data.metric) for e in announced()}) == 20
