"""Role ordering, key shape and what counts as loopback: no database needed."""

import pytest

from dwell import auth
from dwell.api.bind import is_loopback


def test_roles_are_ordered_viewer_uploader_admin():
    assert auth.ROLES == ("viewer", "uploader", "admin")
    assert auth.role_allows("admin", "viewer") and auth.role_allows("admin", "uploader")
    assert auth.role_allows("uploader", "viewer") and auth.role_allows("uploader", "uploader")
    assert not auth.role_allows("uploader", "admin")
    assert not auth.role_allows("viewer", "uploader")


def test_an_unknown_role_allows_nothing_and_cannot_be_required():
    assert not auth.role_allows("root", "viewer")
    with pytest.raises(ValueError):
        auth.role_allows("admin", "root")


def test_new_secrets_start_with_their_prefix_and_are_long():
    prefix, secret = auth._new_secret()
    assert prefix.startswith("dwl_") and secret.startswith(prefix + "_")
    assert len(secret) - len(prefix) - 1 >= 43  # 32 random bytes, url-safe base64
    assert auth._KEY_SHAPE.match(secret)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost",
                                  "LOCALHOST", "::ffff:127.0.0.1"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "example.com",
                                  "localhost.example.com", "fe80::1%eth0"])
def test_hosts_that_reach_other_machines(host):
    assert not is_loopback(host)
