"""``manage.py seed_demo --output .run/demo.json``: the demo organizations and credentials."""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from helpdesk.accounts.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo organizations, users and tickets (idempotent). Local only."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", type=Path, required=True, help="where to write the JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.LOCAL:
            raise CommandError(
                "seed_demo creates known accounts: it runs only with ENVIRONMENT=local."
            )
        output: Path = options["output"]
        previous = None
        if output.exists():
            try:
                previous = json.loads(output.read_text())
            except ValueError:
                previous = None
        document = dict(previous or {})
        document["orgs"] = seed_demo(previous)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=2) + "\n")
        output.chmod(0o600)
        self.stdout.write(f"demo data ready: {output}")
