"""A loyalty points module written with the Python SDK (convotic_sdk): members earn points
on paid orders (a worker), can be read and credited over HTTP (routes), are looked up by
workflows (a node), and have their tiers recomputed every night (a cron).

Balances live in the module's storage under ``member:<member id>``, updated with
compare-and-set so that concurrent deliveries never lose points; each record remembers the
last order ids it counted, so an order redelivered (workers are delivered at least once) is
counted once. When a contact has the member id as external id, its ``loyalty_points`` and
``loyalty_tier`` attributes are kept in sync.

See README.md for how to run it under the supervisor.
"""

from __future__ import annotations

import math
import os
from typing import Any

from convotic_sdk import (
    BadInput,
    Context,
    CronTick,
    Discard,
    Module,
    NodeInvocation,
    NodeOutput,
    Retry,
    RouteRequest,
    RouteResponse,
    StorageEntry,
    WorkerMessage,
)

#: Points per currency unit spent (``LOYALTY_POINTS_PER_UNIT`` overrides it).
POINTS_PER_UNIT = int(os.environ.get("LOYALTY_POINTS_PER_UNIT", "1"))

#: Tiers by minimum balance, highest first.
TIERS = (("gold", 2000), ("silver", 500), ("bronze", 0))

#: Entries kept in a member's history, and order ids remembered (to count each order once).
HISTORY = 20
ORDERS_KEPT = 500

module = Module("loyalty-points", "1.0.0")


def tier_of(points: int) -> str:
    """The tier of a balance."""
    return next(name for name, minimum in TIERS if points >= minimum)


def public_view(member: dict[str, Any]) -> dict[str, Any]:
    return {
        "member_id": member["member_id"],
        "points": member["points"],
        "tier": member["tier"],
        "history": member.get("history", []),
    }


async def credit(
    ctx: Context, member_id: str, points: int, reason: str, order_id: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Adds ``points`` (may be negative) to a member's balance with compare-and-set, retrying
    when another delivery wrote in between. An ``order_id`` already counted changes nothing
    (the record keeps the last order ids). Returns the member record and whether it changed."""
    key = f"member:{member_id}"
    for _ in range(10):
        entry: StorageEntry | None = await ctx.storage.get_entry(key)
        member = entry.value if entry is not None else {"member_id": member_id, "points": 0}
        orders: list[str] = member.setdefault("orders", [])
        if order_id is not None and order_id in orders:
            return member, False
        member["points"] = max(0, int(member["points"]) + points)
        member["tier"] = tier_of(member["points"])
        member["history"] = ([{"points": points, "reason": reason}] + member.get("history", []))[:HISTORY]
        if order_id is not None:
            member["orders"] = (orders + [order_id])[-ORDERS_KEPT:]
        if await ctx.storage.compare_and_set(key, member, entry.revision if entry else 0) is not None:
            return member, True
    raise Retry(f"member {member_id} is being updated concurrently", after=0.5)


async def sync_contact(ctx: Context, member: dict[str, Any]) -> None:
    """Copies the balance onto the contact whose external id is the member id, if any."""
    contact = await ctx.contacts.find_by_external_id(member["member_id"])
    if contact is not None:
        await ctx.contacts.update(
            contact.id,
            attributes={"loyalty_points": member["points"], "loyalty_tier": member["tier"]},
        )


# ---- routes ----------------------------------------------------------------------------------


@module.route("GET", "/members/:memberId")
async def get_member(req: RouteRequest, ctx: Context) -> RouteResponse:
    """``GET /v1/modules/loyalty-points/members/<id>``: the member's balance and tier."""
    member = await ctx.storage.get(f"member:{req.params['memberId']}")
    if member is None:
        return RouteResponse(404, {"error": "no such member"})
    return RouteResponse(200, public_view(member))


@module.route("POST", "/members/:memberId/points", timeout=10)
async def add_points(req: RouteRequest, ctx: Context) -> RouteResponse:
    """``POST .../members/<id>/points {"points": 50, "reason": "goodwill"}``: a manual credit
    (negative points debit, down to 0)."""
    body = req.body if isinstance(req.body, dict) else {}
    points = body.get("points")
    if not isinstance(points, int) or isinstance(points, bool):
        raise BadInput('"points" must be an integer')
    member, _ = await credit(ctx, req.params["memberId"], points, str(body.get("reason") or "manual"))
    await sync_contact(ctx, member)
    ctx.logger.info("points credited", member_id=member["member_id"], points=points)
    return RouteResponse(200, public_view(member))


# ---- worker ----------------------------------------------------------------------------------


@module.worker("orders.paid", max_attempts=5, concurrency=4, timeout=30)
async def on_order_paid(msg: WorkerMessage, ctx: Context) -> None:
    """Earns points on a paid order: ``{"order_id": "SO-1", "customer_id": "cust-42",
    "amount": 129.90}``. Invalid payloads are dead-lettered; host failures are retried."""
    payload = msg.payload if isinstance(msg.payload, dict) else {}
    order_id, customer_id, amount = payload.get("order_id"), payload.get("customer_id"), payload.get("amount")
    if not order_id or not customer_id or not isinstance(amount, (int, float)) or amount < 0:
        raise Discard("expected order_id, customer_id and a non-negative amount")
    points = math.floor(amount) * POINTS_PER_UNIT
    member, counted = await credit(
        ctx, str(customer_id), points, f"order {order_id}", order_id=str(order_id)
    )
    if not counted:
        ctx.logger.info("order already counted", order_id=order_id, attempt=msg.attempt)
        return
    await sync_contact(ctx, member)
    ctx.logger.info(
        "points earned",
        order_id=order_id,
        member_id=customer_id,
        points=points,
        balance=member["points"],
    )


# ---- node ------------------------------------------------------------------------------------


@module.node(
    type="loyalty_points",
    version="1.0.0",
    display_name="Loyalty Points",
    description="Looks up a member's points balance and tier.",
    category="Data",
    icon="star",
    input_schema={
        "type": "object",
        "required": ["member_id"],
        "properties": {"member_id": {"type": "string", "minLength": 1}},
    },
    output_schema={
        "type": "object",
        "properties": {"points": {"type": "integer"}, "tier": {"type": "string"}},
    },
    branches=["member", "not_member"],
    timeout=5,
)
async def loyalty_points(inv: NodeInvocation, ctx: Context) -> NodeOutput:
    """Branch ``member`` with ``{"points", "tier"}``, or ``not_member`` with ``{}``."""
    member = await ctx.storage.get(f"member:{inv.input['member_id']}")
    if member is None:
        return NodeOutput({}, branch="not_member")
    return NodeOutput({"points": member["points"], "tier": member["tier"]}, branch="member")


# ---- cron ------------------------------------------------------------------------------------


@module.cron("nightly-tiers", schedule="0 2 * * *", timezone="Europe/Paris")
async def nightly_tiers(tick: CronTick, ctx: Context) -> str:
    """Recomputes every member's tier (after a change of the thresholds, say) and stores a
    summary under ``stats:last-run``; the note goes to the cron's run history."""
    members = await ctx.storage.list("member:")
    changed = 0
    for entry in members:
        member = entry.value
        tier = tier_of(int(member.get("points", 0)))
        if member.get("tier") != tier:
            member["tier"] = tier
            if await ctx.storage.compare_and_set(entry.key, member, entry.revision) is not None:
                changed += 1
                await sync_contact(ctx, member)
    summary = {
        "run_id": tick.run_id,
        "members": len(members),
        "points": sum(int(e.value.get("points", 0)) for e in members),
        "tiers_changed": changed,
    }
    await ctx.storage.set("stats:last-run", summary)
    return f"{len(members)} members, {changed} tier changes"


@module.route("GET", "/stats")
async def stats(req: RouteRequest, ctx: Context) -> RouteResponse:
    """``GET .../stats``: the summary of the last nightly run."""
    return RouteResponse(200, await ctx.storage.get("stats:last-run", default={}))
