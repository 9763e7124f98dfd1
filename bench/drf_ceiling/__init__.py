"""The ceiling of ``bench.core_api``: a bare DRF APIView returning a small dict, nothing else.

Served exactly as the core is (gunicorn, ``services/core-django/config/gunicorn.conf.py``, sync
workers), so the difference to the core's endpoints is the core's own work: middleware,
authentication, queries, serialization. ceilings.md measured this at 5,105 r/s on 2 cores.
"""
