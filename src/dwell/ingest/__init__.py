"""Reading event files and the upload pipeline (read, validate, pair, store)."""
