"""Routes under /api/v1/ (included by config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from helpdesk.sla.api import (
    CalendarDetailApi,
    CalendarListCreateApi,
    PolicyDetailApi,
    PolicyListCreateApi,
    TicketSlaApi,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("sla/calendars/", CalendarListCreateApi.as_view(), name="sla-calendar-list"),
    path("sla/calendars/<int:pk>/", CalendarDetailApi.as_view(), name="sla-calendar-detail"),
    path("sla/policies/", PolicyListCreateApi.as_view(), name="sla-policy-list"),
    path("sla/policies/<int:pk>/", PolicyDetailApi.as_view(), name="sla-policy-detail"),
    path("tickets/<int:number>/sla", TicketSlaApi.as_view(), name="ticket-sla"),
]
