"""PostgreSQL: the embedded or configured server, migrations, and bulk reads and writes."""
