"""What a node remembers about one open connection."""

import asyncio
from dataclasses import dataclass, field

from app.limits import TokenBucket
from app.presence import TicketPresence
from helpdesk_shared import RealtimeClaims


@dataclass(eq=False)
class Connection:
    sid: str
    claims: RealtimeClaims
    bucket: TokenBucket
    # The rooms it is in (internal names, e.g. "staff:ticket:5"), or will be in once its
    # replay has caught up with the live stream (``live`` false until then).
    rooms: set[str] = field(default_factory=set)
    live: bool = False
    presence: dict[int, TicketPresence] = field(default_factory=dict)
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    start_task: asyncio.Task[None] | None = None
    refused_in_a_row: int = 0

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
