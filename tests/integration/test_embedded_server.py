"""The embedded PostgreSQL configures itself for a store that grows."""

from __future__ import annotations

import psycopg

from dwell.store.server import _ram_bytes, embedded_settings, postgres_server


def test_settings_follow_the_memory_within_bounds():
    assert embedded_settings(None)["shared_buffers"] == "128MB"      # unknown: the default
    assert embedded_settings(512 * 2**20)["shared_buffers"] == "128MB"
    assert embedded_settings(2 * 2**30)["shared_buffers"] == "256MB"
    assert embedded_settings(64 * 2**30)["shared_buffers"] == "1GB"
    assert embedded_settings(8 * 2**30)["max_wal_size"] == "4GB"


def test_a_new_embedded_server_runs_with_its_settings_from_the_first_start(tmp_path):
    for _ in range(2):  # the first start writes and restarts; the second finds them applied
        with postgres_server(None, tmp_path) as conninfo, \
                psycopg.connect(conninfo) as conn:
            shown = {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
                     for name in ("shared_buffers", "max_wal_size", "checkpoint_timeout")}
        assert shown == embedded_settings(_ram_bytes())
    assert "shared_buffers" in (tmp_path / "pg" / "postgresql.auto.conf").read_text()
