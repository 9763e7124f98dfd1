from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from helpdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    list_display = ("id", "organization", "url", "is_active", "consecutive_failures", "created_at")
    list_filter = ("is_active", "organization")
    search_fields = ("url", "description")
    # The signing secrets stay out of the admin: they are shown to the organization's admin
    # once, through the API, and rotated there.
    exclude = ("secret", "previous_secret")
    readonly_fields = ("consecutive_failures", "disabled_at", "created_by", "created_at")
    raw_id_fields = ("organization",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the API, which makes the secret and shows it once


class WebhookAttemptInline(admin.TabularInline[WebhookAttempt, WebhookDelivery]):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "trigger", "started_at", "succeeded", "status_code", "error", "duration_ms")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    """Read-only: the log is written by the worker; replay through the API."""

    list_display = ("id", "endpoint", "event_type", "status", "attempts", "created_at")
    list_filter = ("status", "event_type")
    search_fields = ("event_id",)
    raw_id_fields = ("endpoint",)
    inlines = (WebhookAttemptInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
