"""The AI worker process (``python -m app.worker``): the triage consumer and training jobs."""
