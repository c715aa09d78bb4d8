"""The HTTP API (FastAPI). Routes are thin: validate, call the domain, map errors."""
