from django.contrib import admin

from helpdesk.sla.models import BusinessCalendar, Holiday, SlaPolicy, TicketSla, TicketSlaEvent


class HolidayInline(admin.TabularInline[Holiday, BusinessCalendar]):
    model = Holiday
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin[BusinessCalendar]):
    list_display = ("name", "organization", "time_zone", "updated_at")
    list_filter = ("organization",)
    search_fields = ("name",)
    inlines = (HolidayInline,)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin[SlaPolicy]):
    list_display = (
        "organization",
        "priority",
        "first_response_minutes",
        "resolution_minutes",
        "calendar",
        "warning_share",
    )
    list_filter = ("organization", "priority")


@admin.register(TicketSla)
class TicketSlaAdmin(admin.ModelAdmin[TicketSla]):
    """Read-only: clocks move only through the ticket services and the scheduler."""

    list_display = ("ticket", "priority", "ticket_status", "active", "next_breach_at")
    list_filter = ("active", "priority", "ticket_status")
    raw_id_fields = ("ticket",)

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(TicketSlaEvent)
class TicketSlaEventAdmin(admin.ModelAdmin[TicketSlaEvent]):
    list_display = ("ticket", "kind", "metric", "at")
    list_filter = ("kind", "metric")
    raw_id_fields = ("ticket",)

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
