from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CommonConfig(AppConfig):
    name = "helpdesk.common"
    label = "common"

    def ready(self) -> None:
        from helpdesk.common.db import use_compiled_timestamp_loader

        connection_created.connect(use_compiled_timestamp_loader, dispatch_uid="compiled-tz")
