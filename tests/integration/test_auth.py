"""API keys through real HTTP: open without keys, 401/403 with them, keys managed by admins."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from dwell import auth
from dwell.api.bind import LOOPBACK_NOTICE, BindRefused, check_bind


@pytest.fixture(autouse=True)
def no_keys(clean_database_url: str) -> Iterator[None]:
    """No keys before and after each test: keys left behind would close other tests' API."""
    def clear() -> None:
        with psycopg.connect(clean_database_url, autocommit=True) as connection:
            connection.execute("TRUNCATE api_keys RESTART IDENTITY")

    clear()
    yield
    clear()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_without_keys_everything_is_open_on_loopback(api):
    with httpx.Client(base_url=api.url) as client:
        assert client.get("/api/v1/analytics/kpis").status_code == 200
        assert client.get("/api/v1/keys").json() == []


def test_without_a_key_or_with_a_wrong_one_the_answer_is_401(conn, api):
    auth.create_key(conn, "viewer")
    with httpx.Client(base_url=api.url) as client:
        missing = client.get("/api/v1/analytics/kpis")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert missing.json()["error"]["kind"] == "unauthorized"
        for wrong in ("nonsense", "dwl_00000000_" + "A" * 43):
            answer = client.get("/api/v1/analytics/kpis", headers=bearer(wrong))
            assert answer.status_code == 401
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert answer.json()["error"]["kind"] == "unauthorized"
        basic = client.get("/api/v1/analytics/kpis", auth=("user", "password"))
        assert basic.status_code == 401


def test_a_viewer_reads_analytics_but_cannot_manage_keys(conn, api):
    _, secret = auth.create_key(conn, "viewer", "dashboard")
    with httpx.Client(base_url=api.url, headers=bearer(secret)) as client:
        assert client.get("/api/v1/analytics/kpis").status_code == 200
        forbidden = client.post("/api/v1/keys", json={"role": "viewer"})
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["kind"] == "forbidden"
        assert client.get("/api/v1/keys").status_code == 403
        upload = client.post("/api/v1/uploads",
                             files={"file": ("events.csv", b"timestamp,person_id\n")})
        assert upload.status_code == 403


def test_an_admin_creates_lists_and_revokes_keys_over_http(conn, api):
    _, admin_secret = auth.create_key(conn, "admin", "ops")
    with httpx.Client(base_url=api.url, headers=bearer(admin_secret)) as admin:
        created = admin.post("/api/v1/keys", json={"role": "uploader", "name": "camera-gateway"})
        assert created.status_code == 201
        assert created.headers["Cache-Control"] == "no-store"
        body = created.json()
        assert body["role"] == "uploader" and body["name"] == "camera-gateway" and body["active"]
        assert body["secret"].startswith(body["prefix"] + "_")

        listed = admin.get("/api/v1/keys").json()
        assert [key["name"] for key in listed] == ["ops", "camera-gateway"]
        assert all("secret" not in key and "key_hash" not in key for key in listed)

        with httpx.Client(base_url=api.url, headers=bearer(body["secret"])) as uploader:
            assert uploader.get("/api/v1/analytics/kpis").status_code == 200
            revoked = admin.delete(f"/api/v1/keys/{body['id']}")
            assert revoked.status_code == 200
            assert revoked.json()["active"] is False and revoked.json()["revoked_at"]
            after = uploader.get("/api/v1/analytics/kpis")
            assert after.status_code == 401
            assert after.headers["WWW-Authenticate"].startswith("Bearer")

        assert admin.delete("/api/v1/keys/999").status_code == 404
        assert admin.post("/api/v1/keys", json={"role": "root"}).status_code == 422


def test_revoking_the_last_key_over_http_reopens_the_api_at_once_on_loopback(conn, api):
    admin_key, admin_secret = auth.create_key(conn, "admin")
    with httpx.Client(base_url=api.url) as client:
        assert client.get("/api/v1/analytics/kpis").status_code == 401
        revoked = client.delete(f"/api/v1/keys/{admin_key.id}", headers=bearer(admin_secret))
        assert revoked.status_code == 200
        assert client.get("/api/v1/analytics/kpis").status_code == 200


def test_health_readiness_and_docs_stay_open_with_keys(conn, api):
    auth.create_key(conn, "admin")
    with httpx.Client(base_url=api.url) as client:
        for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert {"type": "http", "scheme": "bearer"}.items() <= next(iter(schemes.values())).items()


def test_the_store_keeps_only_a_hash_of_the_secret(conn):
    info, secret = auth.create_key(conn, "uploader", "gateway")
    (row_text, stored_hash) = conn.execute(
        "SELECT row_to_json(k)::text, key_hash FROM api_keys k WHERE id = %s", (info.id,)
    ).fetchone()
    assert stored_hash == hashlib.sha256(secret.encode()).hexdigest()
    random_part = secret[len(info.prefix) + 1:]
    assert secret not in row_text and random_part not in row_text


def test_verify_accepts_the_secret_and_refuses_it_once_revoked(conn):
    info, secret = auth.create_key(conn, "viewer")
    assert auth.verify(conn, secret).id == info.id
    assert auth.verify(conn, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    (last_used,) = conn.execute("SELECT last_used_at FROM api_keys").fetchone()
    assert last_used is not None
    auth.verify(conn, secret)  # within the minute: last_used_at is not written again
    assert conn.execute("SELECT last_used_at FROM api_keys").fetchone()[0] == last_used
    assert auth.active_key_count(conn) == 1
    assert auth.revoke_key(conn, info.prefix).revoked_at is not None
    assert auth.verify(conn, secret) is None
    assert auth.active_key_count(conn) == 0
    assert auth.revoke_key(conn, str(info.id)).id == info.id
    assert auth.revoke_key(conn, "dwl_ffffffff") is None
    assert [key.active for key in auth.list_keys(conn)] == [False]


def test_serving_beyond_loopback_needs_a_key(clean_database_url, conn):
    with pytest.raises(BindRefused) as refused:
        check_bind("0.0.0.0", clean_database_url)
    assert "dwell keys create --role admin" in refused.value.message
    with pytest.raises(BindRefused):
        check_bind("192.168.1.20", clean_database_url)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert check_bind(host, clean_database_url) == LOOPBACK_NOTICE
    auth.create_key(conn, "admin")
    assert "1 active" in check_bind("0.0.0.0", clean_database_url)


def test_without_keys_a_client_from_elsewhere_is_refused(clean_database_url, tmp_path):
    """A proxy, or every key revoked while serving on 0.0.0.0: the open API stays local."""
    import asyncio

    from dwell.api.app import create_app
    from dwell.settings import Settings

    settings = Settings(DATABASE_URL=clean_database_url, data_dir=tmp_path,
                        upload_dir=tmp_path / "uploads")
    app = create_app(settings, conninfo=clean_database_url, run_worker=False)

    async def ask_from_elsewhere() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://dwell.example") as remote:
            return await remote.get("/api/v1/analytics/kpis"), await remote.get("/healthz")

    refused, health = asyncio.run(ask_from_elsewhere())
    assert refused.status_code == 401
    assert "loopback" in refused.json()["error"]["message"]
    assert health.status_code == 200
