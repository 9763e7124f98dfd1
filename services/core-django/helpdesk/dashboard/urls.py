"""The web pages, under /app/ (config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from helpdesk.dashboard import views

app_name = "dashboard"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.agent_dashboard, name="agent"),
    path("login/", views.login_page, name="login"),
    path("logout/", views.logout_page, name="logout"),
    path("tickets/<int:number>/", views.ticket_page, name="ticket"),
    path("reports/", views.reports_page, name="reports"),
    path("portal/", views.portal, name="portal"),
    path("portal/tickets/<int:number>/", views.portal_ticket, name="portal-ticket"),
]
