"""The REST API: a thin FastAPI layer over the same ingest and analytics functions as the CLI."""
