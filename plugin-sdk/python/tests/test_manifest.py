"""The manifest built from a module's registrations (decorators, ``register_*`` calls, a
``register(sdk)`` function, a subclass) and the protocol version choice."""

from __future__ import annotations

import json
from typing import Any

from convotic_sdk import Action, Block, Context, Module, Node, SignatureVerifier
from convotic_sdk._pb import manifest as pb
from convotic_sdk.manifest import build_manifest, choose_version, missing_handlers
from convotic_sdk.module import seconds_to_ms


async def handler(*args: Any) -> None:
    return None


async def tenant_guard(req: Any, ctx: Context, next: Any) -> Any:
    return await next(req, ctx)


def full_module() -> Module:
    module = Module("orders", "1.2.0", max_in_flight=8)

    @module.route("POST", "/webhook/external", auth=False, timeout=5, max_body_bytes=2048,
                  middleware=[SignatureVerifier("s"), tenant_guard])
    async def webhook(req: Any, ctx: Any) -> None: ...

    module.register_route("get", "/orders/:orderId", handler)

    @module.worker("orders.events", max_attempts=5, concurrency=4, timeout=60)
    async def on_event(msg: Any, ctx: Any) -> None: ...

    @module.worker("orders.events", name="orders-audit")
    async def audit(msg: Any, ctx: Any) -> None: ...

    @module.node(type="loyalty_lookup", version="1.0.0", display_name="Loyalty Lookup",
                 description="Looks up points", category="Data", icon="star",
                 input_schema={"type": "object"}, output_schema='{"type":"object"}',
                 branches=["found", "not_found"], connection_block="regional-sms", timeout=1.5)
    async def lookup(inv: Any, ctx: Any) -> None: ...

    sms = Block("regional-sms", name="Regional SMS", description="SMS", icon="sms",
                connection_schema={"type": "object", "properties": {"api_key": {"type": "string"}}},
                secret_fields=["api_key"], test_timeout=3,
                actions=[Action("ping", handler, timeout=0.5)])

    @sms.test_connection
    async def test(conn: Any, ctx: Any) -> None: ...

    @sms.action("send_message", display_name="Send", input_schema={"type": "object"}, output_schema=True)
    async def send(call: Any, ctx: Any) -> None: ...

    module.block(sms)

    @module.cron("nightly-sync", schedule="0 2 * * *", timezone="Europe/Paris", overlap="allow",
                 catch_up="once", timeout=900)
    async def nightly(tick: Any, ctx: Any) -> None: ...

    return module


def test_manifest_from_registrations() -> None:
    m = build_manifest(full_module())
    assert (m.name, m.version, m.max_in_flight) == ("orders", "1.2.0", 8)
    assert m.sdk == pb.SdkInfo(name="convotic-sdk-python", version="0.1.0", language="python")

    assert list(m.routes) == [
        pb.RouteDef(method="POST", path="/webhook/external", auth=pb.AUTH_MODE_NONE, timeout_ms=5000,
                    max_body_bytes=2048, middleware=["hmac-signature", "tenant_guard"]),
        pb.RouteDef(method="GET", path="/orders/:orderId", auth=pb.AUTH_MODE_API_KEY),
    ]
    assert list(m.workers) == [
        pb.WorkerDef(topic="orders.events", name="orders.events", concurrency=4, max_attempts=5,
                     timeout_ms=60000),
        pb.WorkerDef(topic="orders.events", name="orders-audit"),
    ]
    node = m.nodes[0]
    assert (node.type, node.version, node.display_name, node.category, node.icon) == (
        "loyalty_lookup", "1.0.0", "Loyalty Lookup", "Data", "star")
    assert json.loads(node.input_schema) == {"type": "object"}
    assert node.output_schema == '{"type":"object"}'  # text is passed through
    assert list(node.branches) == ["found", "not_found"]
    assert (node.connection_block, node.timeout_ms) == ("regional-sms", 1500)

    block = m.blocks[0]
    assert (block.id, block.name, block.description, block.icon) == ("regional-sms", "Regional SMS", "SMS", "sms")
    assert json.loads(block.connection_schema)["properties"] == {"api_key": {"type": "string"}}
    assert list(block.secret_fields) == ["api_key"] and block.test_timeout_ms == 3000
    assert [a.name for a in block.actions] == ["ping", "send_message"]
    assert block.actions[0].timeout_ms == 500
    assert block.actions[1] == pb.ActionDef(name="send_message", display_name="Send",
                                            input_schema='{"type":"object"}', output_schema="true")
    assert list(m.crons) == [
        pb.CronDef(name="nightly-sync", schedule="0 2 * * *", timezone="Europe/Paris",
                   overlap=pb.OVERLAP_POLICY_ALLOW, timeout_ms=900000, catch_up=pb.CATCH_UP_POLICY_ONCE)
    ]
    assert missing_handlers(full_module()) == []


def test_defaults_and_no_validation() -> None:
    module = Module("m", "0")
    module.register_route("GET", "orders/../x", handler)
    module.register_route("GET", "orders/../x", handler)
    module.register_cron("c", "every tuesday", handler)
    module.register_node_handler(Node("n"))
    m = build_manifest(module)
    assert m.max_in_flight == 64
    assert [r.path for r in m.routes] == ["orders/../x", "orders/../x"]
    assert m.crons[0].schedule == "every tuesday"
    assert m.crons[0].overlap == pb.OVERLAP_POLICY_SKIP
    assert m.crons[0].catch_up == pb.CATCH_UP_POLICY_NONE
    assert m.nodes[0].version == "1.0.0" and m.nodes[0].input_schema == ""
    assert missing_handlers(module) == ["node n 1.0.0"]


def test_register_function_and_subclass() -> None:
    def register(sdk: Module) -> None:
        sdk.register_route("GET", "/hello", handler)
        sdk.register_worker_handler("a.b", handler)

    by_function = Module("hello", "1.0.0", register=register)
    assert [r.path for r in build_manifest(by_function).routes] == ["/hello"]
    # register runs once, however often the manifest is built.
    assert len(build_manifest(by_function).routes) == 1

    class Hello(Module):
        def __init__(self) -> None:
            super().__init__("hello-sub", "2.0.0")

        def register(self, sdk: Module) -> None:
            sdk.register_cron("tick", "@hourly", handler)

    m = build_manifest(Hello())
    assert (m.name, [c.name for c in m.crons]) == ("hello-sub", ["tick"])


def test_version_choice_and_durations() -> None:
    assert choose_version([1]) == 1
    assert choose_version([3, 1, 2]) == 1
    assert choose_version([2, 3]) is None
    assert choose_version([]) is None
    assert seconds_to_ms(None) == 0 and seconds_to_ms(0) == 0
    assert seconds_to_ms(0.0001) == 1
    assert seconds_to_ms(1.5) == 1500


def test_route_lookup() -> None:
    module = full_module()
    route, params = module.find_route("GET", "", "/orders/42") or (None, None)
    assert route is not None and params == {"orderId": "42"}
    assert module.find_route("GET", "/orders/:orderId", "/orders/42") is not None
    assert module.find_route("DELETE", "/orders/:orderId", "/orders/42") is None
    assert module.find_worker("orders-audit", "orders.events").name == "orders-audit"  # type: ignore[union-attr]
    assert module.find_worker("", "orders.events").effective_name == "orders.events"  # type: ignore[union-attr]
    assert module.find_worker("unknown", "orders.events") is None
