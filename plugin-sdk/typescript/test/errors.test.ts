// How what a handler throws or returns maps to the protocol (docs/PROTOCOL.md §5.7, §5.10,
// §5.11): error codes, retryability, details, route response checks, host errors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { routeResponse } from "../src/dispatch.js";
import { BadInputError, DiscardError, HandlerError, HostError, isHostError } from "../src/index.js";
import { describeFailure, errorFromThrown } from "../src/errors.js";

const view = (err: unknown) => {
  const e = errorFromThrown(err);
  return { code: e.code, message: e.message, retryable: e.retryable, details: (e.details_json as Buffer).toString() };
};

describe("errors to outcomes", () => {
  it("maps SDK errors with their retryability and details", () => {
    assert.deepEqual(view(new HandlerError("nope", { retryable: true, details: { why: 1 } })), {
      code: "ERROR_CODE_HANDLER",
      message: "nope",
      retryable: true,
      details: '{"why":1}',
    });
    assert.deepEqual(view(new BadInputError("email is missing")), { code: "ERROR_CODE_BAD_INPUT", message: "email is missing", retryable: false, details: "" });
    assert.deepEqual(view(new DiscardError("poison")), { code: "ERROR_CODE_HANDLER", message: "poison", retryable: false, details: "" });
    assert.equal(new HandlerError("later", { retryAfterMs: 500 }).retryable, true, "retryAfterMs implies retryable");
  });

  it("maps any thrown value to a handler error", () => {
    assert.deepEqual(view(new Error("boom")), { code: "ERROR_CODE_HANDLER", message: "boom", retryable: false, details: "" });
    assert.deepEqual(view(Object.assign(new Error("flaky"), { retryable: true, details: [1, 2] })), {
      code: "ERROR_CODE_HANDLER",
      message: "flaky",
      retryable: true,
      details: '{"details":[1,2]}',
    });
    assert.deepEqual(view("a string"), { code: "ERROR_CODE_HANDLER", message: "a string", retryable: false, details: "" });
    assert.equal(view(undefined).message, "the handler failed");
    assert.equal(view(new TypeError("")).message, "TypeError", "never an empty message");
  });

  it("recognises errors of another copy of the SDK by their brand", () => {
    const foreign = new HandlerError("x", {}, "bad_input");
    Object.setPrototypeOf(foreign, Error.prototype);
    assert.equal(view(foreign).code, "ERROR_CODE_BAD_INPUT");
  });

  it("keeps host errors' retryability", () => {
    const unavailable = new HostError("contacts.get", "UNAVAILABLE", "down");
    assert.equal(unavailable.message, "contacts.get failed: UNAVAILABLE: down");
    assert.ok(isHostError(unavailable));
    assert.deepEqual(view(unavailable), { code: "ERROR_CODE_HANDLER", message: "contacts.get failed: UNAVAILABLE: down", retryable: true, details: "" });
    assert.equal(view(new HostError("contacts.create", "INVALID_ARGUMENT", "email")).retryable, false);
    assert.equal(describeFailure(new HostError("storage.set", "RESOURCE_EXHAUSTED", "")).retryable, true);
  });
});

describe("route responses", () => {
  const error = (res: unknown) => routeResponse(res).error?.message ?? "";

  it("encodes JSON, text, bytes and empty bodies", () => {
    const json = routeResponse({ status: 201, body: { ok: true }, headers: { "X-Trace": "1" } }).route!;
    assert.deepEqual([json.status, json.body_kind, String(json.body), json.headers], [201, "BODY_KIND_JSON", '{"ok":true}', { "x-trace": "1" }]);
    assert.equal(String(routeResponse({ status: 200, body: null }).route!.body), "null", "null is a JSON body");
    const text = routeResponse({ status: 200, body: "hi", headers: { "content-type": "text/html" } }).route!;
    assert.deepEqual([text.body_kind, text.headers], ["BODY_KIND_BYTES", { "content-type": "text/html" }]);
    assert.equal(routeResponse({ status: 200, body: new Uint8Array([1]) }).route!.body_kind, "BODY_KIND_BYTES");
    assert.equal(routeResponse({ status: 204 }).route!.body_kind, "BODY_KIND_EMPTY");
    assert.equal(String(routeResponse({ status: 200, body: { s: "\ud800" } }).route!.body), '{"s":"\ufffd"}', "no lone surrogates");
  });

  it("refuses what the supervisor would reject, naming the problem", () => {
    assert.match(error(undefined), /returned no response/);
    assert.match(error({ status: 100 }), /status 100/);
    assert.match(error({ status: 600 }), /status 600/);
    assert.match(error({ status: 200.5 }), /status 200.5/);
    assert.match(error({ status: 200, headers: { "bad name": "x" } }), /invalid header name/);
    assert.match(error({ status: 200, headers: { a: "x\r\ny: z" } }), /CR, LF or NUL/);
    assert.match(error({ status: 200, headers: { A: "1", a: "2" } }), /twice/);
    assert.match(error({ status: 200, body: { n: 1n } }), /cannot be encoded as JSON/);
    assert.equal(routeResponse({ status: 500, body: {} }).route?.status, 500, "a 500 is a valid answer");
  });
});
