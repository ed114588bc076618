"""The web dashboard: static HTML, CSS and ES modules over the REST API, no build step."""
