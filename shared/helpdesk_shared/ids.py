"""Event ids that sort by creation time (UUID version 7, RFC 9562).

Python 3.11 has no ``uuid.uuid7``; the layout is short enough to build here: 48 bits of Unix
milliseconds, the version, 12 bits of sub-millisecond time (RFC 9562, method 3) so ids made in
the same millisecond by one process still sort, the variant, and 62 random bits.
"""

import os
import time
import uuid


def uuid7(now_ns: int | None = None) -> uuid.UUID:
    ns = time.time_ns() if now_ns is None else now_ns
    ms, rest_ns = divmod(ns, 1_000_000)
    sub_ms = (rest_ns * 4096) // 1_000_000  # 12-bit fraction of the millisecond
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | sub_ms << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)
