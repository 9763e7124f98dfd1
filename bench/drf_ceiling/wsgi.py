"""The WSGI application gunicorn serves (``bench.drf_ceiling.wsgi``, from the repository root)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.drf_ceiling.settings")
application = get_wsgi_application()
