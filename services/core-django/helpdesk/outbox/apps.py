from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "helpdesk.outbox"
    label = "outbox"
