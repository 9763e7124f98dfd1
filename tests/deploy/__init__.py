"""Checks of the deployment files: Dockerfiles, docker-compose.prod.yml, the AWS template."""
