"""Serializer behaviour every write endpoint shares: unknown fields are refused.

A client that misspells ``priority`` as ``priorty`` learns it at once rather than wondering why
its ticket is ``normal``.
"""

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db.models import Model
from rest_framework import serializers

_M = TypeVar("_M", bound=Model)


def reject_unknown_fields(data: Any, known: Iterable[str]) -> None:
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field is not allowed."] for name in unknown}
            )


class StrictSerializer(serializers.Serializer[Any]):
    def to_internal_value(self, data: Any) -> Any:
        reject_unknown_fields(data, self.fields)
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer[_M]):
    def to_internal_value(self, data: Any) -> Any:
        reject_unknown_fields(data, self.fields)
        return super().to_internal_value(data)
