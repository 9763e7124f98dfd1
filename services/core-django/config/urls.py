from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from helpdesk.accounts.api import MeApi, RealtimeTokenApi
from helpdesk.common import health
from helpdesk.tickets.api import TicketDetailApi, TicketListCreateApi

api_v1 = [
    path("me", MeApi.as_view(), name="me"),
    path("realtime/token", RealtimeTokenApi.as_view(), name="realtime-token"),
    path("tickets/", TicketListCreateApi.as_view(), name="ticket-list"),
    path("tickets/<int:number>/", TicketDetailApi.as_view(), name="ticket-detail"),
]

urlpatterns = [
    path("health/", health.ready, name="health-ready"),
    path("health/live", health.live, name="health-live"),
    path("metrics", health.prometheus_metrics, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/swagger/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger"),
    path("admin/", admin.site.urls),
]

handler400 = "helpdesk.common.errors.bad_request"
handler403 = "helpdesk.common.errors.permission_denied"
handler404 = "helpdesk.common.errors.page_not_found"
handler500 = "helpdesk.common.errors.server_error"
