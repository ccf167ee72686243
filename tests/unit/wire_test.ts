/** The wire-protocol pieces of the embedded database's socket (src/store/wire.ts), and the mutex it relies on. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  concat,
  errorResponse,
  greeting,
  lastReadyStatus,
  parsedStatementName,
  readyForQuery,
  takeMessage,
  takeStartupPacket,
} from "../../src/store/wire.ts";
import { Mutex } from "../../src/lib/mutex.ts";

const encoder = new TextEncoder();

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

function startupMessage(parameters: Record<string, string>, version = 196608): Uint8Array {
  const body = concat([
    int32(version),
    ...Object.entries(parameters).flatMap(([k, v]) => [encoder.encode(`${k}\0${v}\0`)]),
    new Uint8Array([0]),
  ]);
  return concat([int32(4 + body.length), body]);
}

function typed(type: string, body: Uint8Array): Uint8Array {
  return concat([encoder.encode(type), int32(4 + body.length), body]);
}

/** A Parse message as postgres.js and libpq write it: name, query, no parameter types. */
function parse(name: string, query: string): Uint8Array {
  return typed("P", concat([encoder.encode(`${name}\0${query}\0`), new Uint8Array([0, 0])]));
}

Deno.test("wire: a StartupMessage gives its protocol version and parameters", () => {
  const bytes = startupMessage({ user: "kick", database: "kick", application_name: "psql" });
  const taken = takeStartupPacket(bytes);
  assert.equal(taken.kind, "message");
  if (taken.kind !== "message") return;
  assert.equal(taken.size, bytes.length);
  assert.deepEqual(taken.message, {
    kind: "startup",
    minorVersion: 0,
    parameters: { user: "kick", database: "kick", application_name: "psql" },
  });
});

Deno.test("wire: SSL, GSS and cancel requests are recognised; other versions are unsupported", () => {
  const request = (code: number) => concat([int32(8), int32(code)]);
  const kindOf = (bytes: Uint8Array) => {
    const taken = takeStartupPacket(bytes);
    return taken.kind === "message" ? taken.message.kind : taken.kind;
  };
  assert.equal(kindOf(request(80877103)), "ssl");
  assert.equal(kindOf(request(80877104)), "gssenc");
  assert.equal(kindOf(concat([int32(16), int32(80877102), int32(1), int32(2)])), "cancel");
  assert.equal(kindOf(startupMessage({ user: "x" }, 131072)), "unsupported"); // protocol 2.0
  const v32 = takeStartupPacket(startupMessage({ user: "x" }, 196610));
  assert.equal(
    v32.kind === "message" && v32.message.kind === "startup" && v32.message.minorVersion,
    2,
  );
  assert.equal(kindOf(concat([int32(3), int32(0)])), "invalid");
});

Deno.test("wire: any cut of a message stream is incomplete until the whole message is there", () => {
  fc.assert(fc.property(
    fc.array(
      fc.tuple(fc.constantFrom("Q", "P", "B", "E", "S", "D"), fc.uint8Array({ maxLength: 40 })),
      {
        minLength: 1,
        maxLength: 6,
      },
    ),
    (messages) => {
      const stream = concat(messages.map(([type, body]) => typed(type, body)));
      // Cut the stream into all of its messages, one at a time, checking every prefix on the way.
      let rest = stream;
      for (const [type, body] of messages) {
        for (let cut = 0; cut < 5 + body.length; cut++) {
          assert.equal(takeMessage(rest.subarray(0, cut)).kind, "incomplete");
        }
        const taken = takeMessage(rest);
        assert.equal(taken.kind, "message");
        if (taken.kind !== "message") return;
        assert.equal(taken.message.type, type);
        assert.deepEqual(taken.message.bytes.subarray(5), body);
        rest = rest.subarray(taken.size);
      }
      assert.equal(rest.length, 0);
    },
  ));
});

Deno.test("wire: a length below 4 or over the limit is invalid, not a wait for more bytes", () => {
  assert.equal(takeMessage(concat([encoder.encode("Q"), int32(3)])).kind, "invalid");
  assert.equal(takeMessage(concat([encoder.encode("Q"), int32(0x7fffffff)])).kind, "invalid");
});

Deno.test("wire: the statement name of a Parse; null for other messages", () => {
  const named = takeMessage(parse("p1abc", "select $1"));
  const unnamed = takeMessage(parse("", "select 1"));
  const query = takeMessage(typed("Q", encoder.encode("select 1\0")));
  assert.ok(named.kind === "message" && unnamed.kind === "message" && query.kind === "message");
  assert.equal(parsedStatementName(named.message), "p1abc");
  assert.equal(parsedStatementName(unnamed.message), "");
  assert.equal(parsedStatementName(query.message), null);
});

Deno.test("wire: the last ReadyForQuery's status is the session's; none means the answer is not over", () => {
  const rowDescription = typed("T", new Uint8Array([0, 0]));
  const commandComplete = typed("C", encoder.encode("BEGIN\0"));
  assert.equal(lastReadyStatus(concat([commandComplete, readyForQuery("T")])), "T");
  assert.equal(
    lastReadyStatus(concat([readyForQuery("T"), rowDescription, readyForQuery("I")])),
    "I",
  );
  assert.equal(
    lastReadyStatus(concat([errorResponse("ERROR", "42P01", "x"), readyForQuery("E")])),
    "E",
  );
  assert.equal(lastReadyStatus(concat([rowDescription, commandComplete])), null);
  // A DataRow whose payload happens to contain "Z" bytes is not a ReadyForQuery.
  assert.equal(lastReadyStatus(typed("D", encoder.encode("Z\0\0\0\x05I"))), null);
});

Deno.test("wire: the greeting is AuthenticationOk, the parameters, the key, then ReadyForQuery idle", () => {
  const bytes = greeting({ server_version: "18.6", client_encoding: "UTF8" }, 42);
  const types: string[] = [];
  for (let rest = bytes; rest.length > 0;) {
    const taken = takeMessage(rest);
    assert.equal(taken.kind, "message");
    if (taken.kind !== "message") return;
    types.push(taken.message.type);
    rest = rest.subarray(taken.size);
  }
  assert.deepEqual(types, ["R", "S", "S", "K", "Z"]);
  assert.equal(lastReadyStatus(bytes), "I");
});

Deno.test("mutex: first come, first served; nobody holds it twice at once", async () => {
  const mutex = new Mutex();
  const order: number[] = [];
  let inside = 0;
  await Promise.all(
    [0, 1, 2, 3, 4].map((i) =>
      mutex.run(async () => {
        inside++;
        assert.equal(inside, 1);
        await new Promise((resolve) => setTimeout(resolve, 5 - i));
        order.push(i);
        inside--;
      })
    ),
  );
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(mutex.held, false);
});

Deno.test("mutex: released by a failing holder; releasing twice frees it once", async () => {
  const mutex = new Mutex();
  await assert.rejects(mutex.run(() => Promise.reject(new Error("boom"))), /boom/);
  const release = await mutex.acquire();
  const waiting = mutex.acquire();
  release();
  release(); // must not let a third party in beside the waiter
  const second = await waiting;
  assert.equal(mutex.held, true);
  let third = false;
  const thirdWaits = mutex.acquire().then((r) => {
    third = true;
    r();
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(third, false);
  second();
  await thirdWaits;
  assert.equal(third, true);
});
