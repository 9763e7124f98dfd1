"""The habits every helpdesk service shares, written once.

``shared/`` holds the contracts between services (event schemas, no I/O); this package holds the
operational plumbing they have in common: JSON logging with the request id in every line, the one
error shape, readiness checks, HTTP metrics and Sentry.
"""
