from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "helpdesk.sla"
    label = "sla"
