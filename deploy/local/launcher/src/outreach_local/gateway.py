"""The local entry point: a small reverse proxy that routes `/api/...` to the owning service as the Ingress
would, streaming bodies both ways. `python -m outreach_local.gateway --port 8000 --upstreams '{"leads": ...}'`"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator, Mapping

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from outreach_local.routes import service_for

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}


def create_gateway(upstreams: Mapping[str, str], *, timeout_s: float = 60.0) -> Starlette:
    client = httpx.AsyncClient(timeout=timeout_s, trust_env=False, follow_redirects=False)

    async def proxy(request: Request) -> Response:
        service = service_for(request.url.path)
        base = upstreams.get(service)
        if base is None:
            return JSONResponse({"reason": "service_unavailable", "message": f"No upstream for {service}."}, 502)
        url = httpx.URL(base.rstrip("/") + request.url.path, query=request.url.query.encode())
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        headers.append(("x-forwarded-host", request.headers.get("host", "")))
        headers.append(("x-forwarded-proto", request.url.scheme))
        upstream_request = client.build_request(request.method, url, headers=headers, content=request.stream())
        try:
            upstream = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            return JSONResponse({"reason": "service_unavailable",
                                 "message": f"The {service} service did not answer ({type(exc).__name__})."}, 502)
        response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}

        async def body() -> AsyncIterator[bytes]:
            async for chunk in upstream.aiter_raw():
                yield chunk

        return StreamingResponse(body(), status_code=upstream.status_code, headers=response_headers,
                                 background=BackgroundTask(upstream.aclose))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", proxy, methods=methods)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--upstreams", required=True, help='JSON: {"leads": "http://127.0.0.1:8101", ...}')
    args = parser.parse_args()
    uvicorn.run(create_gateway(json.loads(args.upstreams)), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
