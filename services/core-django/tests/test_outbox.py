"""The outbox: an event exists exactly when its change committed, and the relay delivers it."""

import threading
import time
from typing import Any, cast

import pytest
import redis
from django.db import connection, transaction

from helpdesk.accounts.models import User
from helpdesk.outbox.models import OutboxEvent
from helpdesk.outbox.relay import Relay, run_forever
from helpdesk.outbox.services import NotInTransactionError, event_record
from helpdesk.tickets import events
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.services import ticket_create
from helpdesk_shared import TicketCreated, parse_event
from tests.factories import make_org, make_user
from tools.stack import RedisServer


def _stream_events(client: redis.Redis, stream: str) -> list[Any]:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
    return [parse_event(fields[b"event"]) for _id, fields in entries]


@pytest.mark.django_db(transaction=True)
def test_ticket_and_its_event_are_written_together(customer: User) -> None:
    ticket = ticket_create(requester=customer, subject="Broken zip", description="It jams.")
    row = OutboxEvent.objects.get()
    event = parse_event(row.payload)
    assert isinstance(event, TicketCreated)
    assert event.ticket_id == ticket.pk
    assert event.organization_id == customer.organization_id
    assert event.data.number == ticket.number
    assert row.partition_key == f"ticket:{ticket.pk}"
    assert row.published_at is None


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_ticket_leaves_no_event(customer: User) -> None:
    def create_then_fail() -> None:
        with transaction.atomic():
            ticket_create(requester=customer, subject="Never", description="Rolled back.")
            raise RuntimeError("the request failed after the write")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert not Ticket.objects.exists()
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_cannot_be_written_outside_a_transaction(customer: User) -> None:
    ticket = ticket_create(requester=customer, subject="S", description="D")
    with pytest.raises(NotInTransactionError):
        event_record(event=events.ticket_created(ticket=ticket, actor=customer))


@pytest.mark.django_db(transaction=True)
def test_relay_publishes_in_order_and_marks_published(
    customer: User, redis_client: redis.Redis, stream: str
) -> None:
    tickets = [
        ticket_create(requester=customer, subject=f"T{i}", description="d") for i in range(7)
    ]
    relay = Relay(client=redis_client, stream=stream, batch_size=3)
    assert [relay.publish_batch() for _ in range(4)] == [3, 3, 1, 0]
    published = _stream_events(redis_client, stream)
    assert [e.ticket_id for e in published] == [t.pk for t in tickets]
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_relay_keeps_events_while_redis_is_away_and_resumes(
    customer: User, private_redis: RedisServer
) -> None:
    client = redis.Redis.from_url(private_redis.url, socket_connect_timeout=0.5)
    relay = Relay(client=client, stream="events")
    ticket_create(requester=customer, subject="Before", description="d")
    with pytest.raises(redis.ConnectionError):
        relay.publish_batch()  # nothing listens yet
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 1

    stop = threading.Event()
    worker = threading.Thread(
        target=run_forever,
        kwargs={
            "relay": relay,
            "wait_for_work": time.sleep,
            "should_stop": stop.is_set,
            "idle_wait": 0.02,
        },
    )
    worker.start()
    try:
        time.sleep(0.3)  # the relay is retrying with back-off against a dead Redis
        ticket_create(requester=customer, subject="During", description="d")
        private_redis.start()
        deadline = time.monotonic() + 15
        while OutboxEvent.objects.filter(published_at__isnull=True).exists():
            assert time.monotonic() < deadline, "the relay did not resume"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
        connection.close()
    subjects = [e.data.subject for e in _stream_events(client, "events")]
    assert subjects == ["Before", "During"]


@pytest.mark.django_db(transaction=True)
def test_relay_holds_back_a_ticket_whose_older_event_another_relay_holds(
    redis_client: redis.Redis, stream: str
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serializes relays instead")
    org = make_org()
    first = make_user(org)
    second = make_user(org)
    a = ticket_create(requester=first, subject="A1", description="d")
    b = ticket_create(requester=second, subject="B1", description="d")
    # A second event of ticket A, written after B's.
    with transaction.atomic():
        event_record(event=events.ticket_created(ticket=a, actor=first))
    oldest = OutboxEvent.objects.order_by("id").first()
    assert oldest is not None

    locked = threading.Event()
    release = threading.Event()

    def other_relay() -> None:
        with transaction.atomic():
            list(OutboxEvent.objects.select_for_update().filter(id=oldest.id))
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=other_relay)
    holder.start()
    try:
        assert locked.wait(10)
        relay = Relay(client=redis_client, stream=stream)
        assert relay.publish_batch() == 1  # only B's event: A's second must wait for its first
        assert [e.ticket_id for e in _stream_events(redis_client, stream)] == [b.pk]
    finally:
        release.set()
        holder.join(10)
    assert relay.publish_batch() == 2
    assert [e.ticket_id for e in _stream_events(redis_client, stream)] == [b.pk, a.pk, a.pk]


@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_publish_each_ticket_in_order(
    redis_client: redis.Redis, stream: str
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent relays need PostgreSQL; SQLite serializes them")
    org = make_org()
    requesters = [make_user(org) for _ in range(5)]
    tickets = [
        ticket_create(requester=requesters[i % 5], subject=f"T{i}", description="d")
        for i in range(20)
    ]
    for _round in range(4):  # more events per ticket, interleaved across tickets
        for ticket in tickets:
            with transaction.atomic():
                event_record(event=events.ticket_created(ticket=ticket, actor=None))
    expected = list(OutboxEvent.objects.order_by("id").values_list("event_id", "partition_key"))

    def drain() -> None:
        relay = Relay(client=redis_client, stream=stream, batch_size=7)
        idle = 0
        while idle < 5:
            idle = idle + 1 if relay.publish_batch() == 0 else 0
        connection.close()

    relays = [threading.Thread(target=drain) for _ in range(2)]
    for t in relays:
        t.start()
    for t in relays:
        t.join(60)

    published = [(e.id, e.partition_key) for e in _stream_events(redis_client, stream)]
    assert sorted(published) == sorted(expected)  # everything, once
    for key in {k for _, k in expected}:
        assert [i for i, k in published if k == key] == [i for i, k in expected if k == key]
