import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import every view now: under gunicorn's preload this happens once, in the master, instead of
# in each worker's first request (seconds on two busy cores).
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
