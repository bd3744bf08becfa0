// The webhook signature middleware: signing, verification, replay window, rotation, refusals.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { sign, signatureVerifier, verifyWebhookSignature, type MiddlewareFunction, type RouteRequest } from "../src/index.js";
import { parseSignatureHeader } from "../src/signature.js";

const NOW = 1_700_000_000_000;

describe("webhook signatures", () => {
  it("verifies what sign() produces, with any of the secrets", () => {
    const header = sign("old", NOW, '{"a":1}');
    assert.match(header, /^t=1700000000000,v1=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature({ secret: ["new", "old"] }, header, Buffer.from('{"a":1}'), NOW + 1000), NOW);
    assert.throws(() => verifyWebhookSignature({ secret: "new" }, header, Buffer.from('{"a":1}'), NOW), /mismatch/);
    assert.throws(() => verifyWebhookSignature({ secret: "old" }, header, Buffer.from('{"a":2}'), NOW), /mismatch/);
  });

  it("refuses old, future, malformed and missing signatures", () => {
    const body = Buffer.from("x");
    assert.throws(() => verifyWebhookSignature({ secret: "s" }, sign("s", NOW, body), body, NOW + 6 * 60_000), /expired/);
    assert.throws(() => verifyWebhookSignature({ secret: "s" }, sign("s", NOW + 60_000, body), body, NOW), /future-dated/);
    assert.throws(() => verifyWebhookSignature({ secret: "s" }, "t=1", body, NOW), /no v1= signature/);
    assert.throws(() => verifyWebhookSignature({ secret: "s" }, undefined, body, NOW), /missing header x-convotic-signature/);
    assert.throws(() => verifyWebhookSignature({ secret: "" }, "t=1", body, NOW), /no signing secret/);
    assert.throws(() => parseSignatureHeader(`t=1,t=2,v1=${"0".repeat(64)}`), /more than one t=/);
    assert.equal(parseSignatureHeader(` v1=${"a".repeat(64)} , t=5,v0=legacy`).timestampMs, 5);
  });

  it("answers 401 without calling the handler", async () => {
    const middleware = signatureVerifier({ secret: "s" }) as { name: string; handle: MiddlewareFunction };
    assert.equal(middleware.name, "hmac-signature");
    const body = Buffer.from('{"event":"paid"}');
    const request = (headers: Record<string, string>): RouteRequest =>
      ({ rawBody: body, header: (name: string) => headers[name.toLowerCase()] }) as unknown as RouteRequest;
    let called = 0;
    const next = async () => {
      called++;
      return { status: 200 };
    };
    const refused = await middleware.handle(request({}), {} as never, next);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, "invalid_signature");
    const passed = await middleware.handle(request({ "x-convotic-signature": sign("s", Date.now(), body) }), {} as never, next);
    assert.deepEqual([passed.status, called], [200, 1]);
  });
});
