from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from helpdesk.accounts import api as accounts
from helpdesk.common import health
from helpdesk.tickets import api as tickets
from helpdesk.tickets import internal_api as internal
from helpdesk.tickets import reports_api as reports

api_v1 = [
    # The hottest two first: Django tries patterns in order (and lists every one it passed).
    path("tickets/", tickets.TicketListCreateApi.as_view(), name="ticket-list"),
    path("tickets/<int:number>/", tickets.TicketDetailApi.as_view(), name="ticket-detail"),
    path("auth/csrf", accounts.CsrfApi.as_view(), name="auth-csrf"),
    path("auth/login", accounts.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", accounts.LogoutApi.as_view(), name="auth-logout"),
    path("me", accounts.MeApi.as_view(), name="me"),
    path("tokens/", accounts.TokenListApi.as_view(), name="token-list"),
    path("tokens/<str:token_id>", accounts.TokenDetailApi.as_view(), name="token-detail"),
    path("realtime/token", accounts.RealtimeTokenApi.as_view(), name="realtime-token"),
    path(
        "tickets/<int:number>/comments", tickets.TicketCommentsApi.as_view(), name="ticket-comments"
    ),
    path("tickets/<int:number>/history", tickets.TicketHistoryApi.as_view(), name="ticket-history"),
    path("tickets/<int:number>/merge", tickets.TicketMergeApi.as_view(), name="ticket-merge"),
    path("tickets/<int:number>/links", tickets.TicketLinksApi.as_view(), name="ticket-links"),
    path(
        "tickets/<int:number>/links/<int:other>",
        tickets.TicketLinkDetailApi.as_view(),
        name="ticket-link-detail",
    ),
    path(
        "tickets/<int:number>/macros/<int:macro_id>/apply",
        tickets.TicketMacroApplyApi.as_view(),
        name="ticket-macro-apply",
    ),
    path("attachments/<int:attachment_id>", tickets.AttachmentApi.as_view(), name="attachment"),
    path("macros/", tickets.MacroListApi.as_view(), name="macro-list"),
    path("macros/<int:pk>", tickets.MacroDetailApi.as_view(), name="macro-detail"),
    path("queues/", tickets.QueueListApi.as_view(), name="queue-list"),
    path("queues/<int:pk>", tickets.QueueDetailApi.as_view(), name="queue-detail"),
    path("views/", tickets.SavedViewListApi.as_view(), name="view-list"),
    path("views/<int:pk>", tickets.SavedViewDetailApi.as_view(), name="view-detail"),
    path("tags/", reports.TagListApi.as_view(), name="tag-list"),
    path("dashboard/counters", reports.CountersApi.as_view(), name="dashboard-counters"),
    path("triage/corrections", reports.CorrectionsApi.as_view(), name="triage-corrections"),
    path("internal/triage", internal.TriageApi.as_view(), name="internal-triage"),
    path("internal/room-access", internal.RoomAccessApi.as_view(), name="internal-room-access"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("health/", health.ready, name="health-ready"),
    path("health/live", health.live, name="health-live"),
    path("metrics", health.prometheus_metrics, name="metrics"),
    path("api/v1/", include("helpdesk.sla.urls")),
    path("api/v1/", include("helpdesk.webhooks.urls")),
    path("api/v1/", include("helpdesk.dashboard.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/swagger/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger"),
    path("admin/", admin.site.urls),
    path("app/", include("helpdesk.dashboard.urls")),
]

handler400 = "helpdesk.common.errors.bad_request"
handler403 = "helpdesk.common.errors.permission_denied"
handler404 = "helpdesk.common.errors.page_not_found"
handler500 = "helpdesk.common.errors.server_error"
