"""Routes under /api/v1/ (included by config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from helpdesk.dashboard.api import ReportsOverviewApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/overview", ReportsOverviewApi.as_view(), name="reports-overview"),
]
