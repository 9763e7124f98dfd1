"""Helpdesk AI service (FastAPI): ticket classification and triage, behind the gateway at ``/ai/``."""
