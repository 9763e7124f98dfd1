"""Realtime's own metrics, beside the HTTP ones the kit records.

Defined once per process at import (a collector may be registered only once), so ``create_app``
can be called many times (tests) without duplicate registrations.
"""

from datetime import UTC, datetime
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from helpdesk_shared.events import EVENT_TYPES

CONNECTED_CLIENTS: Final = Gauge(
    "realtime_connected_clients",
    "Socket.IO connections authenticated and open",
    multiprocess_mode="livesum",
)
ROOMS: Final = Gauge(
    "realtime_rooms",
    "Socket.IO rooms with at least one connection on this process",
    multiprocess_mode="livesum",
)
EVENTS_EMITTED: Final = Counter(
    "realtime_events_emitted",
    "Events read from the stream and delivered to the rooms they concern",
    ["type"],
)
DELIVERIES: Final = Counter(
    "realtime_deliveries",
    "Event packets queued for a connection (live fan-out and replay)",
    ["path"],
)
FANOUT_WRITES: Final = Counter(
    "realtime_fanout_writes",
    "Event packets for a connection, by way: straight onto its WebSocket transport (direct), "
    "or into Engine.IO's queue behind what it holds (queued)",
    ["way"],
)
REPLAYS: Final = Counter(
    "realtime_replays",
    "Connections that asked for replay, by outcome (replayed, or why they must resync)",
    ["outcome"],
)
CLIENT_MESSAGES: Final = Counter(
    "realtime_client_messages",
    "Messages from clients, by event and outcome (ok, or the error code)",
    ["event", "outcome"],
)
REFUSED_CONNECTIONS: Final = Counter(
    "realtime_refused_connections", "Connections refused, by code", ["code"]
)
SLOW_CONSUMERS: Final = Counter(
    "realtime_slow_consumers", "Connections closed because they could not keep up"
)
ROOM_ACCESS_CHECKS: Final = Counter(
    "realtime_room_access_checks",
    "Room access decisions, by source and result",
    ["source", "result"],
)
EVENT_DELAY: Final = Histogram(
    "realtime_event_delay_seconds",
    "Time from an event's occurred_at to its emission by this process",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)

# Types are written by our own producers, but an unknown type still costs one series each:
# label the known ones by name and the rest together.
OTHER_TYPE: Final = "other"


def event_emitted(event_type: str, occurred_at: datetime) -> None:
    label = event_type if event_type in EVENT_TYPES else OTHER_TYPE
    EVENTS_EMITTED.labels(label).inc()
    # A producer clock ahead of ours would give a negative delay; count it as none.
    delay = (datetime.now(UTC) - occurred_at).total_seconds()
    EVENT_DELAY.observe(max(delay, 0.0))
