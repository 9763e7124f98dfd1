"""Developer tooling: starting the platform locally (make run), in tests and in benchmarks."""
