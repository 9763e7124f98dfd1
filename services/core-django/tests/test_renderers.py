"""JSON out (orjson) reads exactly as DRF's own renderer wrote it; timestamps come back from
PostgreSQL through psycopg's compiled loader, as the same UTC datetimes."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from helpdesk.common.renderers import OrjsonRenderer, render_json


def test_the_document_is_the_one_drf_writes() -> None:
    data = {
        "at": datetime.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=datetime.UTC),
        "whole_second": datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC),
        "berlin": datetime.datetime(
            2026, 3, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
        ),
        "day": datetime.date(2026, 3, 1),
        "id": uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"),
        "money": Decimal("12.50"),
        "lazy": gettext_lazy("Not found."),
        "took": datetime.timedelta(seconds=90),
        "tuple": (1, "two"),
        "text": 'Grüße, 東京 — "quoted"',
        "nested": [{"n": None, "t": True, "f": 1.5}],
    }
    assert render_json(data) == JSONRenderer().render(data)
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)


def test_indented_output_is_still_offered() -> None:
    out = OrjsonRenderer().render({"a": 1}, "application/json; indent=2")
    assert out == b'{\n  "a": 1\n}'


@pytest.mark.django_db
def test_timestamps_come_back_as_utc_datetimes() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's timestamp loader; SQLite has none")
    from psycopg import pq

    with connection.cursor() as cursor:
        cursor.execute("SELECT TIMESTAMPTZ '2026-03-01 13:30:05.5+01', NULL::timestamptz")
        value, nothing = cursor.fetchone()
    assert value == datetime.datetime(2026, 3, 1, 12, 30, 5, 500000, tzinfo=datetime.UTC)
    assert value.tzinfo is datetime.UTC
    assert nothing is None
    loader = connection.connection.adapters.get_loader(1184, pq.Format.TEXT)  # timestamptz
    if pq.__impl__ == "binary":
        assert loader.__name__ == "UtcTimestamptzLoader"
