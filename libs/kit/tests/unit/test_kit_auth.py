import json

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from servicekit.web.auth import (
    ApiKey,
    hash_key,
    load_api_keys,
    reachable_workspaces,
    request_workspace,
    require_key,
    require_scope,
)


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


def _workspace_app(workspaces: list[str] | None, served: frozenset[str] = frozenset({"default"})) -> TestClient:
    key: dict[str, object] = {"name": "k", "sha256": hash_key("k-key"), "scopes": ["*"]}
    if workspaces is not None:
        key["workspaces"] = workspaces
    keys = load_api_keys(json.dumps([key]))
    app = FastAPI()

    @app.get("/where", dependencies=[Depends(require_scope(keys, "leads:read", served))])
    def where(request: Request) -> dict[str, str]:
        return {"workspace": request.state.workspace}

    return TestClient(app)


@pytest.mark.parametrize(("workspaces", "header", "answer"), [
    (None, None, "default"),  # a key configured before workspaces reaches every one; no header: default
    (["*"], "default", "default"),
    (["default"], None, "default"),
    (["default", "acme"], None, "default"),
    (["default"], " default ", "default"),
    (["acme"], None, 404),  # its only workspace, which this deployment does not serve (yet)
    (["acme"], "default", 404),  # not the key's: the same answer as a workspace that does not exist
    (["*"], "acme", 404),
    (["*"], "", 404),
    (["default"], "Default", 404),  # names are exact
])
def test_the_request_works_in_a_workspace_its_key_reaches_or_gets_404(
        workspaces: list[str] | None, header: str | None, answer: str | int) -> None:
    client = _workspace_app(workspaces)
    r = client.get("/where", headers={"X-API-Key": "k-key", **({"X-Workspace": header} if header is not None else {})})
    if answer == 404:
        assert (r.status_code, r.json()["detail"]["reason"]) == (404, "workspace_not_found")
    else:
        assert (r.status_code, r.json()) == (200, {"workspace": answer})


@given(st.text(max_size=40))
def test_any_workspace_header_but_default_is_answered_404(header: str) -> None:
    key = load_api_keys(json.dumps([{"sha256": hash_key("x"), "workspaces": ["*"]}]))[0]
    raw = header.encode("utf-8", "surrogatepass")
    request = Request({"type": "http", "headers": [(b"x-workspace", raw)]})
    if raw.decode("latin-1").strip() == "default":  # as the server reads a header: latin-1
        assert request_workspace(request, key) == "default"
    else:
        with pytest.raises(HTTPException) as refused:
            request_workspace(request, key)
        assert refused.value.status_code == 404


@pytest.mark.parametrize("workspaces", [[], "default", [""], ["  "], [3], {"default": True}])
def test_a_malformed_workspaces_list_stops_the_start_up(workspaces: object) -> None:
    with pytest.raises(ValueError, match="workspaces"):
        load_api_keys(json.dumps([{"name": "bad", "sha256": hash_key("x"), "workspaces": workspaces}]))


@pytest.mark.parametrize(("workspaces", "header", "answer"), [
    (["acme"], None, "acme"),  # served now: the key's only workspace
    (["acme"], "acme", "acme"),
    (["acme"], "default", 404),
    (["acme", "beta"], None, "acme"),  # the one served workspace it reaches
    (["acme", "beta"], "beta", 404),  # reached by the key, but not served
    (["*"], None, "default"),
    (["*"], "acme", "acme"),
    (["*"], "gamma", 404),  # not served
    (["default", "acme"], None, "default"),
])
def test_a_deployment_serving_several_workspaces_lets_each_key_into_its_own(
        workspaces: list[str], header: str | None, answer: str | int) -> None:
    client = _workspace_app(workspaces, served=frozenset({"default", "acme"}))
    r = client.get("/where", headers={"X-API-Key": "k-key", **({"X-Workspace": header} if header is not None else {})})
    if answer == 404:
        assert (r.status_code, r.json()["detail"]["reason"]) == (404, "workspace_not_found")
    else:
        assert (r.status_code, r.json()) == (200, {"workspace": answer})


def test_a_key_reaching_several_served_workspaces_but_not_default_must_name_one() -> None:
    client = _workspace_app(["acme", "beta"], served=frozenset({"default", "acme", "beta"}))
    r = client.get("/where", headers={"X-API-Key": "k-key"})
    assert (r.status_code, r.json()["detail"]["reason"]) == (400, "workspace_required")
    assert client.get("/where", headers={"X-API-Key": "k-key", "X-Workspace": "beta"}).json() == {"workspace": "beta"}


def test_a_deployment_without_default_asks_an_every_workspace_key_to_name_one() -> None:
    client = _workspace_app(["*"], served=frozenset({"client-a", "client-b"}))
    r = client.get("/where", headers={"X-API-Key": "k-key"})
    assert (r.status_code, r.json()["detail"]["reason"]) == (400, "workspace_required")
    only = _workspace_app(["*"], served=frozenset({"client-a"}))
    assert only.get("/where", headers={"X-API-Key": "k-key"}).json() == {"workspace": "client-a"}


def test_the_workspaces_of_a_key_need_no_workspace_and_list_only_served_ones_it_reaches() -> None:
    keys = load_api_keys(json.dumps([{"name": "a", "sha256": hash_key("a-key"), "scopes": ["leads:read"],
                                      "workspaces": ["acme", "beta", "gone"]}]))
    served = frozenset({"default", "acme", "beta", "zeta"})
    app = FastAPI()

    @app.get("/mine")
    def mine(key: ApiKey = Depends(require_key(keys, "leads:read"))) -> list[str]:
        return reachable_workspaces(key, served)

    client = TestClient(app)
    # A header naming a workspace the key does not reach changes nothing here: the route is about the key.
    assert client.get("/mine", headers={"X-API-Key": "a-key", "X-Workspace": "zeta"}).json() == ["acme", "beta"]
    assert client.get("/mine").status_code == 401
    everything = load_api_keys(json.dumps([{"sha256": hash_key("s"), "scopes": ["*"]}]))[0]
    assert reachable_workspaces(everything, served) == ["default", "acme", "beta", "zeta"]


def test_a_bad_workspaces_setting_stops_the_start() -> None:
    from servicekit.process.settings import ServiceSettings

    assert ServiceSettings(workspaces=" default , acme,acme ").served_workspaces() == {"default", "acme"}
    for bad in ("", " , ", "acme/../x", "a" * 65, "default,ac me"):
        with pytest.raises(ValueError, match="WORKSPACES"):
            ServiceSettings(workspaces=bad)
