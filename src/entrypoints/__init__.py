"""Entrypoints: Lambda, ASGI and the CLI translate the outside world, nothing else."""
