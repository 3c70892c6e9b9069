import json

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from servicekit.web.auth import hash_key, load_api_keys, require_scope


@pytest.fixture
def client() -> TestClient:
    keys = load_api_keys(json.dumps([
        {"name": "ops", "sha256": hash_key("ops-key"), "scopes": ["leads:read"]},
        {"name": "admin", "sha256": hash_key("admin-key"), "scopes": ["*"]},
    ]))
    app = FastAPI()

    @app.get("/read", dependencies=[Depends(require_scope(keys, "leads:read"))])
    def read() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/write", dependencies=[Depends(require_scope(keys, "leads:write"))])
    def write() -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app)


def test_missing_key_is_401_with_reason(client: TestClient) -> None:
    r = client.get("/read")
    assert r.status_code == 401
    assert r.json()["detail"]["reason"] == "api_key_missing"


def test_wrong_key_is_401(client: TestClient) -> None:
    r = client.get("/read", headers={"X-API-Key": "nope"})
    assert r.status_code == 401
    assert r.json()["detail"]["reason"] == "api_key_invalid"


def test_key_without_scope_is_403_and_wildcard_passes(client: TestClient) -> None:
    assert client.get("/read", headers={"X-API-Key": "ops-key"}).status_code == 200
    assert client.get("/write", headers={"X-API-Key": "ops-key"}).status_code == 403
    assert client.get("/write", headers={"Authorization": "Bearer admin-key"}).status_code == 200


def test_keys_are_held_only_as_hashes() -> None:
    keys = load_api_keys(json.dumps([{"sha256": hash_key("secret-123")}]))
    assert "secret-123" not in repr(keys)
