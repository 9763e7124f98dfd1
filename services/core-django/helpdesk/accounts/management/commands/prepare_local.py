"""``manage.py prepare_local --demo-output .run/demo.json``: what ``make run`` does before
serving, in one process (each Django start-up costs seconds on two cores)."""

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, collect static files and seed the demo data (local only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--demo-output", type=Path, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        if options["demo_output"] is not None:
            call_command("seed_demo", output=options["demo_output"])
