"""GET /audit: the audit trail, all of it for admins, a user's own events for them."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.audit import repo
from service.audit.schemas import AuditListSchema, AuditQuerySchema, event_out
from service.auth.scopes import requires
from service.caller import principal_of
from service.errors import ApiError
from service.openapi import doc
from service.validation import load_query

routes = web.RouteTableDef()


@routes.get("/audit")
@requires("read:tokens")
@doc("Audit events, newest first: every event with read:users (admins), else your own",
     tag="audit", query=AuditQuerySchema, responses={200: AuditListSchema})
async def list_audit(request: web.Request) -> web.Response:
    """A caller holding read:users sees every event; anyone else with read:tokens sees
    the events they caused or that name them (their tokens, their logins)."""
    query = load_query(request, AuditQuerySchema())
    principal = principal_of(request)
    everything = "read:users" in principal.scopes
    if (not everything and "user" in query
            and query["user"].lower() != principal.username.lower()):
        raise ApiError(403, "forbidden", "Only an admin may read another user's events.")
    # Logins of this process may still be buffered: write them so the answer includes them.
    await request.app[keys.AUDIT].flush()
    async with request.app[keys.POOL].acquire() as conn:
        rows, total = await repo.page(
            conn, username=query.get("user"), token_id=query.get("token"),
            kind=query.get("kind"), since=query.get("since"), until=query.get("until"),
            only_user_id=None if everything else principal.user_id,
            limit=query["limit"], offset=query["offset"],
        )
    return web.json_response({"items": [event_out(r) for r in rows], "total": total,
                              "limit": query["limit"], "offset": query["offset"]})
