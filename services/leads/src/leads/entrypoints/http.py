"""The leads HTTP API (`/api/leads`, `/api/lead-statuses`, `/api/plusvibe/...`). Routes are thin: validate,
call a use case, map its refusal to a 4xx with a machine-readable `reason`.

Every route works in the request's platform workspace (`workspace_of`, set by the key check from `X-Workspace`):
reads and writes see only its rows, PlusVibe calls go through its connection, and an id of another workspace is
answered exactly as an id that does not exist."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from leads.adapters.plusvibe_account import PlusVibeAccount
from leads.bootstrap import LeadsService, bootstrap
from leads.entrypoints import schemas as s
from leads.entrypoints import views
from leads.entrypoints.alerts import alerts_router
from leads.entrypoints.api_errors import answered as _run
from leads.entrypoints.copy_settings import copy_settings_router
from leads.entrypoints.imports import imports_router
from leads.entrypoints.plusvibe_sync import plusvibe_sync_router
from leads.entrypoints.workspaces import workspaces_router
from leads.handlers import (
    campaign_membership,
    generate_email,
    plusvibe_integration,
    preview_send,
    push_leads,
    request_writeback,
    start_audit,
)
from leads.handlers.copy_settings import choice_for, choices, copy_settings
from leads.handlers.create_lead import CreateLead, create_lead
from leads.handlers.delete_lead import delete_lead
from leads.handlers.export_leads import export_leads
from leads.handlers.lead_timeline import lead_timeline
from leads.handlers.plusvibe_alerts import open_campaign_alerts
from leads.handlers.update_lead import UpdateLead, normalise_all, normalise_status, update_lead
from leads.settings import LeadsSettings
from plusvibe.errors import AuthenticationError, PlusVibeError
from plusvibe.settings import PlusVibeSettings
from servicekit.process.pooling import checked_app, size_pool
from servicekit.web.auth import ApiKey, require_scope, workspace_of
from servicekit.web.http import ApiError, FastRoute, create_service_app


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "lead_not_found", "No lead with that id.") from None


def _json(model: BaseModel) -> Response:
    """The model's wire JSON, exactly what `response_model` would render (camelCase aliases). The model was
    validated when built, so FastAPI's second validation of the return value is skipped (hot read routes)."""
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")


def _route(router: APIRouter, method: str, path: str) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ()))


def actor_of(key: ApiKey) -> str:
    return f"operator:{key.name}"


def _clean_url(scope_check: Callable[[Request], Awaitable[ApiKey]]) -> Callable[[Request], Awaitable[ApiKey]]:
    """The key check, then a refusal of NUL in any path or query value: PostgreSQL text cannot hold it, so
    it must be a 422 here rather than a 500 from the database. One dependency that awaits the key check
    itself: each nested FastAPI dependency costs a resolution pass on every request."""

    async def dependency(request: Request) -> ApiKey:
        key = await scope_check(request)
        if any("\x00" in v for v in request.query_params.values()) \
                or any("\x00" in str(v) for v in request.path_params.values()):
            raise ApiError(422, "invalid_characters", "Path and query values must not contain NUL characters.")
        return key

    return dependency


def build_router(svc: LeadsService) -> tuple[APIRouter, list[FastRoute]]:
    """The API's routes, and the hot ones also served as kit fast routes (servicekit.web.http.FastRoute)."""
    read = _clean_url(require_scope(svc.api_keys, "leads:read", svc.settings.served_workspaces()))
    write = _clean_url(require_scope(svc.api_keys, "leads:write", svc.settings.served_workspaces()))
    uow = svc.runtime.uow
    router = APIRouter()
    router.include_router(imports_router(svc, read=read, write=write))  # before /api/leads/{lead_id}/...
    router.include_router(alerts_router(svc, read=read, write=write))
    router.include_router(copy_settings_router(svc, read=read, write=write))
    router.include_router(plusvibe_sync_router(svc, read=read, write=write))

    @router.get("/api/lead-statuses", response_model=list[s.StatusOut], response_model_by_alias=True)
    async def lead_statuses(_: ApiKey = Depends(read)) -> list[s.StatusOut]:
        return views.statuses_out()

    @router.post("/api/leads", status_code=201, response_model=s.LeadOut)
    async def create(body: s.LeadCreate, request: Request, key: ApiKey = Depends(write)) -> s.LeadOut:
        workspace = workspace_of(request)
        lead_id = await _run(create_lead(CreateLead(
            company_name=body.company_name, domain=body.domain, first_name=body.contact.first_name,
            last_name=body.contact.last_name, email=body.contact.email, title=body.contact.title,
            phone=body.contact.phone, notes=body.notes, actor=actor_of(key), workspace=workspace,
            custom_fields=body.custom_fields), uow=uow()))
        lead = await views.get_lead(lead_id, workspace, svc.runtime.engine)
        assert lead is not None
        return lead

    @router.get("/api/leads", response_model=s.LeadPage)
    async def list_leads(
        request: Request,
        status: str | None = None,
        campaign_id: Annotated[str | None, Query(alias="campaignId")] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        sort: Literal["updated_at", "created_at", "company_name", "domain", "status"] = "updated_at",
        order: Literal["asc", "desc"] = "desc",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int | None, Query(alias="pageSize", ge=1, le=200)] = None,
        output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
        _: ApiKey = Depends(read),
    ) -> s.LeadPage | Response:
        """One page of the workspace's leads; `format=csv`: every lead the filters match, as a CSV file (Export CSV;
        formula-like cells neutralised, docs/CSV.md)."""
        if output == "csv":
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            return StreamingResponse(
                export_leads(uow, workspace=workspace_of(request), status=status, campaign_id=campaign_id, text=q,
                             sort=sort, descending=order == "desc"),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="leads-{stamp}.csv"'})
        return await views.list_leads(uow(), workspace=workspace_of(request), status=status, campaign_id=campaign_id,
                                      text=q, sort=sort,
                                      descending=order == "desc", page=page,
                                      page_size=page_size or svc.settings.page_size)

    @router.get("/api/leads/{lead_id}", response_model=s.LeadOut)
    async def get(lead_id: str, request: Request, _: ApiKey = Depends(read)) -> Response:
        # Declares the detail route (OpenAPI, metrics label); HTTP requests are answered by `lead_detail`.
        return await _lead_response(lead_id, workspace_of(request))

    async def _lead_response(lead_id: str, workspace: str) -> Response:
        lead = await views.get_lead(_uuid(lead_id), workspace, svc.runtime.engine)
        if lead is None:
            raise ApiError(404, "lead_not_found", "No lead with that id.")
        return _json(lead)

    async def lead_detail(request: Request) -> Response:
        """GET /api/leads/{lead_id} without FastAPI's per-request machinery: the same key and workspace check (the
        `read` dependency, called directly, sets the request's workspace) and the same answer as `get`."""
        await read(request)
        return await _lead_response(request.path_params["lead_id"], workspace_of(request))

    @router.patch("/api/leads/{lead_id}", response_model=s.LeadOut)
    async def patch(lead_id: str, body: s.LeadPatch, request: Request, key: ApiKey = Depends(write)) -> Response:
        workspace = workspace_of(request)
        fields: dict[str, Any] = {}
        sent = body.model_fields_set
        for name in ("company_name", "domain", "notes", "custom_fields"):
            if name in sent:
                fields[name] = getattr(body, name)
        if body.contact is not None:
            for name in body.contact.model_fields_set:
                fields[name] = getattr(body.contact, name)
        lid = _uuid(lead_id)
        await _run(update_lead(UpdateLead(lead_id=lid, fields=fields, status=body.status, actor=actor_of(key),
                                          workspace=workspace), uow=uow()))
        return await _lead_response(lead_id, workspace)

    @router.delete("/api/leads/{lead_id}", status_code=200, responses={
        409: {"description": "The lead is in a PlusVibe campaign (`lead_in_campaign`): remove it from the campaign "
                             "first; nothing was deleted."}})
    async def delete(lead_id: str, request: Request, _: ApiKey = Depends(write)) -> dict[str, str]:
        """Deletes the lead (a soft delete: gone from every list and read, kept for the record; announced as
        LeadUpserted with `deleted`). PlusVibe is never touched."""
        await _run(delete_lead(_uuid(lead_id), workspace=workspace_of(request), uow=uow()))
        return {"status": "deleted", "id": lead_id}

    @router.get("/api/leads/{lead_id}/history", response_model=list[s.HistoryOut])
    async def history(lead_id: str, request: Request, _: ApiKey = Depends(read)) -> list[s.HistoryOut]:
        lid = _uuid(lead_id)
        async with uow() as u:
            if await u.leads.get(lid, workspace=workspace_of(request)) is None:
                raise ApiError(404, "lead_not_found", "No lead with that id.")
            return [views.history_out(r) for r in await u.leads.history(lid)]

    @router.get("/api/leads/{lead_id}/timeline", response_model=s.TimelinePage)
    async def timeline(
        lead_id: str, request: Request,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=200)] = 50,
        _: ApiKey = Depends(read),
    ) -> s.TimelinePage:
        """The lead's story, newest first: status changes with their actor, audits, writebacks, previews, pushes
        and removals, and every PlusVibe webhook about the lead (replies as `reply`) with its raw payload."""
        entries, total = await _run(lead_timeline(_uuid(lead_id), workspace=workspace_of(request), page=page,
                                                  page_size=page_size, uow=uow()))
        return s.TimelinePage(items=[views.timeline_entry_out(e) for e in entries], total=total, page=page,
                              page_size=page_size)

    @router.post("/api/leads/{lead_id}/normalise-status", response_model=s.LeadOut)
    async def normalise(lead_id: str, request: Request, key: ApiKey = Depends(write)) -> Response:
        workspace = workspace_of(request)
        await _run(normalise_status(_uuid(lead_id), workspace=workspace, actor=actor_of(key), uow=uow()))
        return await _lead_response(lead_id, workspace)

    @router.post("/api/leads/normalise-status")
    async def normalise_every(request: Request, key: ApiKey = Depends(write)) -> dict[str, int]:
        return {"normalised": await _run(normalise_all(workspace=workspace_of(request), actor=actor_of(key),
                                                       uow=uow()))}

    @router.post("/api/leads/audits", response_model=s.BulkAuditOut, response_model_by_alias=True)
    async def audit_many(body: s.BulkAuditIn, request: Request, key: ApiKey = Depends(write)) -> s.BulkAuditOut:
        """Start audit for each selected lead (at most 500), each on its own with the single action's rules: the
        leads started with their runs, and the others with the reason (e.g. `domain_missing`, `lead_not_found`)."""
        results = await start_audit.start_audits(body.lead_ids, workspace=workspace_of(request), actor=actor_of(key),
                                                 uows=uow)
        return s.BulkAuditOut(
            started=[s.AuditStartOut(lead_id=r.lead_id, audit_run_id=str(r.audit_run_id))
                     for r in results if r.audit_run_id is not None],
            refused=[s.AuditRefusedOut(lead_id=r.lead_id, reason=r.reason or "refused", message=r.message or "")
                     for r in results if r.audit_run_id is None])

    @router.post("/api/leads/{lead_id}/audits", status_code=202, response_model=s.Accepted)
    async def audit(lead_id: str, request: Request, key: ApiKey = Depends(write)) -> s.Accepted:
        run_id = await _run(start_audit.start_audit(_uuid(lead_id), workspace=workspace_of(request),
                                                    actor=actor_of(key), uow=uow()))
        return s.Accepted(audit_run_id=str(run_id))

    @router.post("/api/leads/{lead_id}/emails", status_code=201, response_model=list[s.OutreachEmailOut])
    async def generate(lead_id: str, request: Request, body: s.EmailRequest | None = None,
                       key: ApiKey = Depends(write)) -> list[s.OutreachEmailOut]:
        req = body or s.EmailRequest()
        lid = _uuid(lead_id)
        ids = await _run(generate_email.generate_email(lid, workspace=workspace_of(request),
                                                       tone=req.tone,
                                                       steps=req.steps, uow=uow()))
        async with uow() as u:
            return [views.email_out(r) for r in await u.leads.emails(lid) if r.id in set(ids)]

    @router.get("/api/leads/{lead_id}/emails", response_model=list[s.OutreachEmailOut])
    async def emails(lead_id: str, request: Request, _: ApiKey = Depends(read)) -> list[s.OutreachEmailOut]:
        lid = _uuid(lead_id)
        async with uow() as u:
            if await u.leads.get(lid, workspace=workspace_of(request)) is None:
                raise ApiError(404, "lead_not_found", "No lead with that id.")
            return [views.email_out(r) for r in await u.leads.emails(lid)]

    @router.post("/api/leads/{lead_id}/plusvibe/writeback", status_code=202, response_model=s.Accepted)
    async def writeback(lead_id: str, request: Request, key: ApiKey = Depends(write)) -> s.Accepted:
        request_id = await _run(request_writeback.request_writeback(_uuid(lead_id), workspace=workspace_of(request),
                                                                    actor=actor_of(key), uow=uow()))
        return s.Accepted(request_id=str(request_id))

    @router.post("/api/leads/{lead_id}/plusvibe/complete", status_code=200)
    async def complete(lead_id: str, request: Request, _: ApiKey = Depends(write)) -> dict[str, str]:
        workspace = workspace_of(request)
        await _run(campaign_membership.mark_completed(_uuid(lead_id), workspace=workspace, uow=uow(),
                                                      plusvibe=svc.port(workspace)))
        return {"status": "completed"}

    @router.delete("/api/leads/{lead_id}/plusvibe", status_code=200)
    async def remove(lead_id: str, request: Request, _: ApiKey = Depends(write)) -> dict[str, str]:
        workspace = workspace_of(request)
        campaign_id = await _run(campaign_membership.remove_from_campaign(_uuid(lead_id), workspace=workspace,
                                                                          uow=uow(), plusvibe=svc.port(workspace)))
        return {"status": "removed", "campaignId": campaign_id}

    @router.post("/api/plusvibe/leads/push", response_model=s.PushResult,
                 responses={409: {"description": "Some leads are not ready; nothing was enrolled."}})
    async def push(body: s.PushRequest, request: Request, partial: bool = False,
                   key: ApiKey = Depends(write)) -> Response:
        workspace = workspace_of(request)
        ids = [_uuid(i) for i in body.lead_ids]
        outcome = await _run(push_leads.push_leads(
            push_leads.PushLeads(campaign_id=body.campaign_id, lead_ids=ids, partial=partial, actor=actor_of(key),
                                 workspace=workspace, tone=(await choice_for(uow(), workspace=workspace,
                                                                             campaign_id=body.campaign_id)).tone,
                                 workspace_id=await _run(svc.plusvibe_workspace_id(workspace)),
                                 custom_storage=svc.settings.plusvibe_custom_storage),
            uow=uow(), plusvibe=svc.port(workspace), campaigns=svc.campaigns_for(workspace), new_uow=uow))
        refused = [views.refused_lead_out(r.lead_id, r.status, r.reason, r.remedy, r.message, r.keys, r.problems)
                   for r in outcome.refused]
        if refused and not partial:
            return JSONResponse(status_code=409, content={
                "reason": "leads_not_ready",
                "message": f"{len(refused)} of {len(ids)} lead(s) are not ready for PlusVibe; nothing was enrolled.",
                "refused": [r.model_dump(by_alias=True) for r in refused],
            })
        result = s.PushResult(campaign_id=outcome.campaign_id, enrolled=[str(i) for i in outcome.enrolled],
                              already_enrolled=[str(i) for i in outcome.already_enrolled], refused=refused,
                              leads_uploaded=outcome.leads_uploaded, already_in_campaign=outcome.already_in_campaign,
                              batches=outcome.batches)
        return JSONResponse(result.model_dump(by_alias=True, mode="json"))

    @router.get("/api/leads/{lead_id}/plusvibe/preview", response_model=s.SendPreviewOut,
                responses={409: {"description": "A template of the campaign cannot be rendered."}})
    async def send_preview(
        lead_id: str,
        campaign_id: Annotated[str, Query(alias="campaignId", min_length=1, max_length=100)],
        request: Request,
        _: ApiKey = Depends(read),
    ) -> s.SendPreviewOut:
        workspace = workspace_of(request)
        lid = _uuid(lead_id)
        preview = await _run(preview_send.preview_send(
            lid, campaign_id, workspace=workspace, uow=uow(), campaigns=svc.campaigns_for(workspace),
            configured_storage=svc.settings.plusvibe_custom_storage,
            workspace_id=await _run(svc.plusvibe_workspace_id(workspace)),
            tone=(await choice_for(uow(), workspace=workspace, campaign_id=campaign_id)).tone))
        return views.send_preview_out(preview)

    @router.get("/api/plusvibe/campaigns", response_model=list[s.CampaignOut])
    async def campaigns(request: Request, _: ApiKey = Depends(read)) -> list[s.CampaignOut]:
        """The workspace's PlusVibe campaigns, each with whether a push can enrol leads into it now (and why not)
        and its open PlusVibe alert (docs/CAMPAIGN-STATES.md)."""
        workspace = workspace_of(request)
        items = await _run(svc.campaigns_for(workspace).list())
        copy = choices(await copy_settings(uow(), workspace=workspace), [c.id for c in items])
        return views.campaigns_out(items, await open_campaign_alerts(uow(), workspace=workspace), copy)

    @router.get("/api/plusvibe/integration", response_model=s.IntegrationOut)
    async def integration(request: Request, _: ApiKey = Depends(read)) -> s.IntegrationOut:
        """A live check of the credentials in use (the key's validity and the workspace's name)."""
        workspace = workspace_of(request)
        workspace_id = await _run(svc.plusvibe_workspace_id(workspace))
        if not workspace_id:
            return s.IntegrationOut(configured=False, key_valid=None, workspace_id=None, workspace_name=None)
        try:
            workspaces = await svc.port(workspace).authenticate()
        except AuthenticationError:
            return s.IntegrationOut(configured=True, key_valid=False, workspace_id=workspace_id, workspace_name=None,
                                    error="PlusVibe refused the API key.")
        except PlusVibeError as exc:
            return s.IntegrationOut(configured=True, key_valid=None, workspace_id=workspace_id, workspace_name=None,
                                    error=f"PlusVibe unreachable: {type(exc).__name__}")
        name = next((w.name for w in workspaces if w.id == workspace_id), None)
        return s.IntegrationOut(configured=True, key_valid=True, workspace_id=workspace_id, workspace_name=name,
                                error=None if name else "The configured workspace is not on this key.")

    # --- Integrations: connect, test, disconnect (handlers/plusvibe_integration.py) ---------------------------
    manage = _clean_url(require_scope(svc.api_keys, "integrations:write", svc.settings.served_workspaces()))
    account = PlusVibeAccount(svc.plusvibe_settings or PlusVibeSettings())
    webhooks = plusvibe_integration.Webhooks(svc.settings.webhook_base_url)

    def out(view: plusvibe_integration.IntegrationView) -> s.PlusVibeIntegrationOut:
        return views.integration_out(view, webhooks_configured=bool(webhooks.public_base_url))

    def changed(workspace: str, view: plusvibe_integration.IntegrationView) -> s.PlusVibeIntegrationOut:
        svc.integration_changed(workspace)  # this process uses the change at once; the others within the TTL
        return out(view)

    @router.get("/api/integrations/plusvibe", response_model=s.PlusVibeIntegrationOut)
    async def plusvibe_status(request: Request, _: ApiKey = Depends(read)) -> s.PlusVibeIntegrationOut:
        workspace = workspace_of(request)
        return out(await _run(plusvibe_integration.status(uow, workspace=workspace,
                                                          env=svc.env_credentials(workspace))))

    @router.post("/api/integrations/plusvibe/workspaces", response_model=list[s.PlusVibeWorkspaceOut],
                 responses={400: {"description": "PlusVibe rejected the key."}})
    async def plusvibe_workspaces(body: s.PlusVibeKeyIn, _: ApiKey = Depends(manage)) -> list[s.PlusVibeWorkspaceOut]:
        """The PlusVibe workspaces a key reaches (PlusVibe's `/authenticate`); nothing is stored."""
        found = await _run(plusvibe_integration.reachable_workspaces(account, body.api_key))
        return [s.PlusVibeWorkspaceOut(id=w.id, name=w.name) for w in found]

    @router.put("/api/integrations/plusvibe", response_model=s.PlusVibeIntegrationOut,
                responses={400: {"description": "PlusVibe rejected the key; nothing was stored."},
                           422: {"description": "The key cannot reach that workspace; nothing was stored."}})
    async def plusvibe_connect(body: s.PlusVibeConnectIn, request: Request,
                               _: ApiKey = Depends(manage)) -> s.PlusVibeIntegrationOut:
        workspace = workspace_of(request)
        return changed(workspace, await _run(plusvibe_integration.connect(
            uow, keyring=svc.keyring, account=account, api_key=body.api_key,
            plusvibe_workspace_id=body.workspace_id, workspace=workspace, now=datetime.now(UTC),
            webhooks=webhooks)))

    @router.post("/api/integrations/plusvibe/test", response_model=s.PlusVibeIntegrationOut)
    async def plusvibe_test(request: Request, _: ApiKey = Depends(manage)) -> s.PlusVibeIntegrationOut:
        workspace = workspace_of(request)
        return out(await _run(plusvibe_integration.test_connection(
            uow, keyring=svc.keyring, account=account, workspace=workspace, env=svc.env_credentials(workspace),
            now=datetime.now(UTC), webhooks=webhooks)))

    @router.delete("/api/integrations/plusvibe", response_model=s.PlusVibeIntegrationOut)
    async def plusvibe_disconnect(request: Request, _: ApiKey = Depends(manage)) -> s.PlusVibeIntegrationOut:
        workspace = workspace_of(request)
        return changed(workspace, await _run(plusvibe_integration.disconnect(
            uow, workspace=workspace, now=datetime.now(UTC), keyring=svc.keyring, account=account,
            webhooks=webhooks)))

    return router, [FastRoute(_route(router, "GET", "/api/leads/{lead_id}"), lead_detail)]


def create_app(
    settings: LeadsSettings | None = None,
    *,
    embedded_workers: bool = False,
    service: LeadsService | None = None,
    **overrides: Any,
) -> FastAPI:
    svc = service or bootstrap(settings, **overrides)
    router, fast_routes = build_router(svc)
    app = create_service_app(svc.runtime, title="Leads API", routers=[router, workspaces_router(svc)],
                             embedded_workers=embedded_workers,
                             fast_routes=fast_routes)
    app.state.service = svc
    return app


def app_factory() -> FastAPI:
    """`uvicorn --factory leads.entrypoints.http:app_factory`"""
    svc = bootstrap(configure_logs=True)
    size_pool(svc.runtime, "api")
    return checked_app(create_app(service=svc), svc.runtime)


