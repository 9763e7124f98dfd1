"""JSON out with orjson: the same document DRF's ``JSONRenderer`` writes, in a fraction of the time.

A list page holds hundreds of datetimes; the standard library's encoder calls back into Python
for each (``isoformat``), orjson writes them natively. The output matches DRF's: compact, UTF-8,
UTC datetimes ending in ``Z``; what orjson does not know (decimals, lazy strings, durations…)
goes through DRF's own encoder, so those read exactly as before.
"""

from collections.abc import Mapping
from typing import Any, Final

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_fallback = JSONEncoder()


def _default(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return _fallback.default(value)


def render_json(data: Any) -> bytes:
    """``data`` as JSON bytes, as an API response body."""
    if data is None:
        return b""
    return orjson.dumps(data, default=_default, option=OPTIONS)


class OrjsonRenderer(JSONRenderer):
    """DRF's JSON renderer (same media type, same output) with orjson underneath; a client
    asking for ``indent`` gets the standard library's indented form."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if accepted_media_type and "indent=" in accepted_media_type:
            return bytes(super().render(data, accepted_media_type, renderer_context))
        return render_json(data)
