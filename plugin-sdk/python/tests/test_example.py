"""The loyalty points example (plugins-example/python-example) against the fake host: orders
earn points once however often they are delivered, the node branches, the cron summarises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import REPO_DIR
from harness import TOKEN, FakeHost, async_test

from convotic_sdk import Context
from convotic_sdk._pb import work
from convotic_sdk.dispatch import Dispatcher
from convotic_sdk.host import Host
from convotic_sdk.loader import load_module


@async_test()
async def test_loyalty_points(sock_dir: Path) -> None:
    module = load_module(str(REPO_DIR / "plugins-example/python-example/module.py"))
    async with FakeHost(sock_dir) as fake:
        host = Host(str(fake.socket), TOKEN)

        def context(workspace: str, request_id: str, traceparent: str, deadline: float | None) -> Context:
            return Context(host, module=module.name, request_id=request_id, deadline=deadline)

        dispatcher = Dispatcher(module, context)
        ids = iter(range(1, 100))

        async def run(**kind: Any) -> work.Outcome:
            return await dispatcher.run(work.Invocation(id=next(ids), **kind), None)

        await Context(host).contacts.create(external_id="cust-42", name="Ada")
        paid = json.dumps({"order_id": "SO-1", "customer_id": "cust-42", "amount": 129.9}).encode()
        for attempt in (1, 2):  # redelivered: counted once
            outcome = await run(
                message=work.WorkerMessage(handler="orders.paid", topic="orders.paid", payload_json=paid, attempt=attempt)
            )
            assert outcome.message.disposition == work.DISPOSITION_ACK
        bad = await run(message=work.WorkerMessage(handler="orders.paid", payload_json=b'{"amount": 1}'))
        assert bad.message.disposition == work.DISPOSITION_DISCARD

        member = await run(
            route=work.RouteRequest(method="GET", path="/members/cust-42", route="/members/:memberId",
                                    params={"memberId": "cust-42"})
        )
        assert json.loads(member.route.body)["points"] == 129
        contact = await Context(host).contacts.find_by_external_id("cust-42")
        assert contact is not None and contact.attributes == {"loyalty_points": 129, "loyalty_tier": "bronze"}

        found = await run(node=work.NodeInvocation(node_type="loyalty_points", node_version="1.0.0",
                                                   input_json=b'{"member_id": "cust-42"}'))
        assert found.node.branch == "member"
        assert json.loads(found.node.output_json) == {"points": 129, "tier": "bronze"}
        missing = await run(node=work.NodeInvocation(node_type="loyalty_points", node_version="1.0.0",
                                                     input_json=b'{"member_id": "nobody"}'))
        assert missing.node.branch == "not_member"

        cron = await run(cron=work.CronTick(cron="nightly-tiers", run_id="r1"))
        assert cron.cron.message == "1 members, 0 tier changes"
        await host.close()
