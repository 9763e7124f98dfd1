from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "helpdesk.dashboard"
    label = "dashboard"
