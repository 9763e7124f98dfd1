"""Helpdesk AI service (FastAPI): ticket classification and triage, served at ``/ai/``."""
