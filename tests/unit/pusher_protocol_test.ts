import assert from "node:assert/strict";
import fc from "fast-check";
import {
  closeAction,
  decodeData,
  encodePing,
  encodePong,
  encodeSubscribe,
  encodeUnsubscribe,
  parseServerFrame,
  retryDelay,
  type ServerFrame,
} from "../../src/pusher/protocol.ts";

function kindOf(frame: ServerFrame): string {
  return frame.kind;
}

Deno.test("pusher frames: connection_established with double-encoded data (real Pusher, protocol §2.1)", () => {
  const frame = parseServerFrame(
    '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"214617.19803\\",\\"activity_timeout\\":120}"}',
  );
  assert.deepEqual(frame, {
    kind: "connection_established",
    socketId: "214617.19803",
    activityTimeoutSeconds: 120,
  });
});

Deno.test("pusher frames: connection_established with object data and without activity_timeout", () => {
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher:connection_established","data":{"socket_id":"1.2","activity_timeout":30}}',
    ),
    { kind: "connection_established", socketId: "1.2", activityTimeoutSeconds: 30 },
  );
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"1.2\\"}"}',
    ),
    { kind: "connection_established", socketId: "1.2", activityTimeoutSeconds: null },
  );
});

Deno.test("pusher frames: connection_established with unusable data is malformed", () => {
  const cases = [
    '{"event":"pusher:connection_established","data":"not json"}',
    '{"event":"pusher:connection_established","data":"[1,2]"}',
    '{"event":"pusher:connection_established","data":42}',
    '{"event":"pusher:connection_established"}',
    '{"event":"pusher:connection_established","data":"{\\"socket_id\\":5}"}',
    '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"1.2\\",\\"activity_timeout\\":\\"x\\"}"}',
  ];
  for (const text of cases) {
    const frame = parseServerFrame(text);
    assert.equal(frame.kind, "malformed", text);
    if (frame.kind === "malformed") assert.match(frame.reason, /connection_established/);
  }
});

Deno.test('pusher frames: subscription_succeeded with data "{}" (Pusher) and without data (soketi)', () => {
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher_internal:subscription_succeeded","data":"{}","channel":"chatrooms.668.v2"}',
    ),
    { kind: "subscription_succeeded", channel: "chatrooms.668.v2" },
  );
  assert.deepEqual(
    parseServerFrame('{"event":"pusher_internal:subscription_succeeded","channel":"x"}'),
    { kind: "subscription_succeeded", channel: "x" },
  );
  const presence = parseServerFrame(
    '{"event":"pusher_internal:subscription_succeeded","channel":"presence-z","data":"{\\"presence\\":{\\"ids\\":[\\"u1\\"],\\"hash\\":{\\"u1\\":{\\"name\\":\\"A\\"}},\\"count\\":1}}"}',
  );
  assert.deepEqual(presence, { kind: "subscription_succeeded", channel: "presence-z" });
  assert.equal(
    parseServerFrame('{"event":"pusher_internal:subscription_succeeded","data":"{}"}').kind,
    "malformed",
  );
});

Deno.test("pusher frames: soketi's pusher:subscription_error form", () => {
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher:subscription_error","channel":"private-y","data":{"type":"AuthError","error":"The connection is unauthorized.","status":401}}',
    ),
    {
      kind: "subscription_error",
      channel: "private-y",
      message: "AuthError: The connection is unauthorized.",
      status: 401,
    },
  );
  // Double-encoded and bare-string variants.
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher:subscription_error","channel":"c","data":"{\\"type\\":\\"AuthError\\",\\"status\\":403}"}',
    ),
    { kind: "subscription_error", channel: "c", message: "AuthError", status: 403 },
  );
  assert.deepEqual(
    parseServerFrame('{"event":"pusher:subscription_error","channel":"c","data":"nope"}'),
    { kind: "subscription_error", channel: "c", message: "nope", status: null },
  );
  assert.equal(
    parseServerFrame('{"event":"pusher:subscription_error","channel":"c","data":{"status":"x"}}')
      .kind,
    "malformed",
  );
});

Deno.test("pusher frames: real Pusher's pusher:error with code null is a subscription error", () => {
  const frame = parseServerFrame(
    '{"event":"pusher:error","data":{"code":null,"message":"Invalid signature: Expected HMAC SHA256 hex digest of 264774.13368624:private-phone-company-509, but got 52aa"}}',
  );
  assert.deepEqual(frame, {
    kind: "subscription_error",
    channel: null,
    message:
      "Invalid signature: Expected HMAC SHA256 hex digest of 264774.13368624:private-phone-company-509, but got 52aa",
    status: null,
  });
  // Some Pusher versions double-encode error data.
  assert.equal(
    kindOf(
      parseServerFrame('{"event":"pusher:error","data":"{\\"code\\":null,\\"message\\":\\"m\\"}"}'),
    ),
    "subscription_error",
  );
});

Deno.test("pusher frames: pusher:error with a code, without one, and unusable", () => {
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher:error","data":{"message":"Application does not exist","code":4001}}',
    ),
    { kind: "error", code: 4001, message: "Application does not exist" },
  );
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher:error","data":"{\\"message\\":\\"Over capacity\\",\\"code\\":4100}"}',
    ),
    { kind: "error", code: 4100, message: "Over capacity" },
  );
  assert.deepEqual(
    parseServerFrame('{"event":"pusher:error","data":{"message":"no code"}}'),
    { kind: "error", code: null, message: "no code" },
  );
  assert.deepEqual(
    parseServerFrame('{"event":"pusher:error","data":"plain text"}'),
    { kind: "error", code: null, message: "plain text" },
  );
  assert.equal(
    parseServerFrame('{"event":"pusher:error","data":{"code":"4001"}}').kind,
    "malformed",
  );
  assert.equal(parseServerFrame('{"event":"pusher:error","data":7}').kind, "malformed");
});

Deno.test("pusher frames: ping and pong", () => {
  assert.deepEqual(parseServerFrame('{"event":"pusher:ping","data":{}}'), { kind: "ping" });
  assert.deepEqual(parseServerFrame('{"event":"pusher:pong","data":{}}'), { kind: "pong" });
  assert.deepEqual(parseServerFrame('{"event":"pusher:pong","data":"{}"}'), { kind: "pong" });
});

Deno.test("pusher frames: Kick channel event with double-encoded data (kick-api.md §3.3, §3.5)", () => {
  const text =
    '{"event":"App\\\\Events\\\\StreamerIsLive","data":"{\\"livestream\\":{\\"id\\":74331109,\\"channel_id\\":668,\\"session_title\\":\\"+18 #ad🌟LIVE🌟…\\",\\"source\\":null,\\"created_at\\":\\"2025-09-14T23:18:20.000000Z\\"}}","channel":"channel.668"}';
  const frame = parseServerFrame(text);
  assert.deepEqual(frame, {
    kind: "channel_event",
    channel: "channel.668",
    event: "App\\Events\\StreamerIsLive",
    data: {
      livestream: {
        id: 74331109,
        channel_id: 668,
        session_title: "+18 #ad🌟LIVE🌟…",
        source: null,
        created_at: "2025-09-14T23:18:20.000000Z",
      },
    },
  });
});

Deno.test("pusher frames: channel event data that is not JSON stays raw; object data is kept", () => {
  assert.deepEqual(parseServerFrame('{"event":"e","data":"hello","channel":"c"}'), {
    kind: "channel_event",
    channel: "c",
    event: "e",
    data: "hello",
  });
  assert.deepEqual(parseServerFrame('{"event":"e","data":"{broken","channel":"c"}'), {
    kind: "channel_event",
    channel: "c",
    event: "e",
    data: "{broken",
  });
  assert.deepEqual(parseServerFrame('{"event":"e","data":{"x":1},"channel":"c"}'), {
    kind: "channel_event",
    channel: "c",
    event: "e",
    data: { x: 1 },
  });
  assert.deepEqual(parseServerFrame('{"event":"e","channel":"c"}'), {
    kind: "channel_event",
    channel: "c",
    event: "e",
    data: undefined,
  });
  // An app event whose name merely starts with "pusher" is still an app event.
  assert.equal(
    parseServerFrame('{"event":"pusherish","data":"1","channel":"c"}').kind,
    "channel_event",
  );
});

Deno.test("pusher frames: other internal events and channel-less app events are 'other'", () => {
  assert.deepEqual(
    parseServerFrame(
      '{"event":"pusher_internal:subscription_count","data":"{\\"subscription_count\\":3}","channel":"c"}',
    ),
    {
      kind: "other",
      event: "pusher_internal:subscription_count",
      channel: "c",
      data: { subscription_count: 3 },
    },
  );
  assert.deepEqual(
    parseServerFrame('{"event":"pusher:signin_success","data":{"user_data":"{}"}}'),
    {
      kind: "other",
      event: "pusher:signin_success",
      channel: null,
      data: { user_data: "{}" },
    },
  );
  assert.equal(parseServerFrame('{"event":"something","data":"{}"}').kind, "other");
});

Deno.test("pusher frames: malformed inputs give a reason and never throw", () => {
  const cases: [string, RegExp][] = [
    ["", /not JSON/],
    ["not json", /not JSON/],
    ['{"event":', /not JSON/],
    ["[]", /not a JSON object/],
    ["null", /not a JSON object/],
    ['"string"', /not a JSON object/],
    ["42", /not a JSON object/],
    ['{"data":"{}"}', /no string "event"/],
    ['{"event":42}', /no string "event"/],
    ['{"event":"e","channel":5,"data":"{}"}', /non-string "channel"/],
  ];
  for (const [text, reason] of cases) {
    const frame = parseServerFrame(text);
    assert.equal(frame.kind, "malformed", text);
    if (frame.kind === "malformed") assert.match(frame.reason, reason, text);
  }
});

Deno.test("pusher frames: parseServerFrame never throws on arbitrary strings and JSON (property)", () => {
  const frameLike = fc.record({
    event: fc.oneof(
      fc.constantFrom(
        "pusher:connection_established",
        "pusher:error",
        "pusher:subscription_error",
        "pusher_internal:subscription_succeeded",
        "pusher:ping",
        "pusher:pong",
        "App\\Events\\StreamerIsLive",
      ),
      fc.string(),
      fc.jsonValue(),
    ),
    channel: fc.oneof(fc.string(), fc.jsonValue()),
    data: fc.oneof(
      fc.jsonValue(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.string(),
    ),
  }, { requiredKeys: [] });
  const input = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.jsonValue().map((value) => JSON.stringify(value)),
    frameLike.map((value) => JSON.stringify(value)),
  );
  fc.assert(
    fc.property(input, (text) => {
      const frame = parseServerFrame(text);
      assert.equal(typeof frame.kind, "string");
    }),
    { numRuns: 10_000 },
  );
});

Deno.test("pusher frames: decodeData removes the second encoding only when it parses", () => {
  assert.deepEqual(decodeData('{"a":1}'), { a: 1 });
  assert.equal(decodeData("12"), 12);
  assert.equal(decodeData("true"), true);
  assert.equal(decodeData("null"), null);
  assert.equal(decodeData("abc"), "abc");
  assert.equal(decodeData(""), "");
  assert.equal(decodeData("nope"), "nope");
  const object = { a: 1 };
  assert.equal(decodeData(object), object);
});

Deno.test("pusher encoders: exact client frames (protocol §2.2, kick-api.md §3.2)", () => {
  assert.equal(
    encodeSubscribe("channel.668"),
    '{"event":"pusher:subscribe","data":{"auth":"","channel":"channel.668"}}',
  );
  assert.equal(
    encodeUnsubscribe("channel_668"),
    '{"event":"pusher:unsubscribe","data":{"channel":"channel_668"}}',
  );
  assert.equal(encodePing(), '{"event":"pusher:ping","data":{}}');
  assert.equal(encodePong(), '{"event":"pusher:pong","data":{}}');
  // Quotes in a name stay valid JSON.
  assert.deepEqual(JSON.parse(encodeSubscribe('a"b')), {
    event: "pusher:subscribe",
    data: { auth: "", channel: 'a"b' },
  });
});

Deno.test("pusher close codes: classes per protocol §2.1 and §3", () => {
  const cases: [number, string][] = [
    [3999, "backoff"],
    [4000, "refused"],
    [4001, "refused"],
    [4009, "refused"],
    [4099, "refused"],
    [4100, "backoff"],
    [4199, "backoff"],
    [4200, "reconnect-soon"],
    [4201, "reconnect-soon"],
    [4299, "reconnect-soon"],
    [4300, "stop"],
    [4301, "stop"],
    [4999, "stop"],
    [1000, "backoff"],
    [1001, "backoff"],
    [1002, "backoff"],
    [1003, "backoff"],
    [1004, "backoff"],
    [1005, "backoff"],
    [1006, "backoff"],
    [1011, "backoff"],
    [3000, "backoff"],
    [0, "backoff"],
  ];
  for (const [code, action] of cases) assert.equal(closeAction(code), action, `code ${code}`);
});

Deno.test("pusher retry delays: each close class on its own schedule, from the one backoff", () => {
  const low = { random: () => 0 };
  const high = { random: () => 0.999999 };
  // 40xx: "do not reconnect unchanged" waits 5–10 minutes by default, and never longer.
  assert.equal(retryDelay(4001, 0, low), 300_000);
  assert.equal(retryDelay(4004, 0, high), 600_000);
  assert.equal(retryDelay(4099, 12, high), 600_000);
  // …and its schedule is an option, so tests can shorten it; it grows on repeats up to the cap.
  const short = { refusedBackoff: { baseMs: 100, capMs: 400 }, random: () => 0 };
  assert.deepEqual([0, 1, 2, 3].map((attempt) => retryDelay(4009, attempt, short)), [
    50,
    100,
    200,
    200,
  ]);
  // 41xx: at least 1 s (protocol §2.1), even on a shorter schedule.
  assert.equal(retryDelay(4100, 0, low), 1_000);
  assert.equal(retryDelay(4100, 0, { ...low, backoff: { baseMs: 20, capMs: 200 } }), 1_000);
  // 42xx: soon, never under 100 ms (protocol §4).
  assert.equal(retryDelay(4200, 0, low), 100);
  assert.equal(retryDelay(4201, 3, low), 800);
  // Abnormal closes: the ordinary 1 s → 60 s schedule.
  assert.equal(retryDelay(1006, 0, low), 500);
  assert.equal(retryDelay(1006, 20, high), 60_000);
});
