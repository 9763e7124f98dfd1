"""When to retry a failed delivery, and when to give up on an endpoint.

Defaults: 8 attempts per delivery; the n-th retry waits about 30 s x 2^(n-1) (capped at an
hour), so the last attempt comes roughly an hour after the first; an endpoint whose last 10
deliveries all failed for good is disabled. Each delay has "equal jitter": half fixed, half
random, so that retries of many deliveries that failed together (a receiver that was down)
spread out instead of hitting it again at the same instant, and none comes back at once.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_DISABLE_AFTER = 10
DEFAULT_BACKOFF_BASE_SECONDS = 30.0
DEFAULT_BACKOFF_CAP_SECONDS = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    disable_after: int = DEFAULT_DISABLE_AFTER
    backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_cap: float = DEFAULT_BACKOFF_CAP_SECONDS
    # A number in [0, 1): injectable so tests know the delay exactly.
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def retry_delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A receiver's ``Retry-After`` (429, 503) is honoured when longer, up to the cap.
        """
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        delay = ceiling / 2 + self.rand() * ceiling / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_cap))
        return delay
