/** shapeOf and compareShapes (src/doctor/shape.ts), on the reference fixtures and drifted copies of them. */
import assert from "node:assert/strict";
import { compareShapes, shapeOf } from "../../src/doctor/shape.ts";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(new URL(`../fixtures/kick/${name}`, import.meta.url)));
}

Deno.test("shapeOf lists every path with its types, never the values", () => {
  assert.deepEqual(
    shapeOf({ data: [{ slug: "a", stream: { is_live: true, viewers: 3 } }, { slug: null }], n: 1 }),
    {
      "": ["object"],
      data: ["array"],
      "data[]": ["object"],
      "data[].slug": ["string", "null"],
      "data[].stream": ["object"],
      "data[].stream.is_live": ["boolean"],
      "data[].stream.viewers": ["number"],
      n: ["number"],
    },
  );
  assert.deepEqual(shapeOf([]), { "": ["array"] });
  assert.deepEqual(shapeOf("x"), { "": ["string"] });
  assert.deepEqual(shapeOf([[1], ["a"]]), {
    "": ["array"],
    "[]": ["array"],
    "[][]": ["string", "number"],
  });
  // Same shape, different values.
  assert.deepEqual(shapeOf({ a: 1, b: "x" }), shapeOf({ b: "yy", a: 2 }));
});

Deno.test("a fixture compared with itself has no differences", () => {
  for (
    const name of [
      "channels.json",
      "livestreams.json",
      "legacy_channel_v2.json",
      "oauth_token.json",
    ]
  ) {
    const value = fixture(name);
    assert.deepEqual(compareShapes(shapeOf(value), shapeOf(structuredClone(value))), [], name);
  }
});

Deno.test("a drifted channels answer: changed type, renamed and added keys are all reported", () => {
  const real = fixture("channels.json");
  const drifted = structuredClone(real);
  const item = (drifted.data as Record<string, unknown>[])[0];
  const stream = item.stream as Record<string, unknown>;
  stream.is_live = "true"; // a boolean became a string
  delete stream.viewer_count; // a field was renamed
  stream.viewers = 1;
  item.broadcaster_user_id = String(item.broadcaster_user_id);
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(drifted)), [
    "data[].broadcaster_user_id: number vs string",
    "data[].stream.is_live: boolean vs string",
    "data[].stream.viewer_count: only in real (number)",
    "data[].stream.viewers: only in fake (number)",
  ]);
});

Deno.test("null on one side is tolerated (nullable fields)", () => {
  const real = fixture("legacy_channel_v2.json");
  const offline = structuredClone(real);
  offline.livestream = null; // offline: the whole object is null
  offline.role = "moderator"; // null in the fixture, a value here
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(offline)), []);
  assert.deepEqual(compareShapes(shapeOf(offline), shapeOf(real)), []);
  // But a value of another type next to the null is drift.
  const mixed = structuredClone(real);
  mixed.livestream = 42;
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(mixed)), ["livestream: object vs number"]);
});

Deno.test("an empty array on one side hides nothing but its element type", () => {
  const real = fixture("channels.json");
  const empty = { data: [], message: "OK" };
  // An unknown slug: the same envelope, no items.
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(empty)), []);
  // `custom_tags: []` against `["tag1"]`.
  const noTags = structuredClone(real);
  ((noTags.data as Record<string, unknown>[])[0].stream as Record<string, unknown>).custom_tags =
    [];
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(noTags)), []);
  // A list of numbers where strings were is drift.
  const numericTags = structuredClone(real);
  ((numericTags.data as Record<string, unknown>[])[0].stream as Record<string, unknown>)
    .custom_tags = [
      1,
    ];
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(numericTags)), [
    "data[].stream.custom_tags[]: string vs number",
  ]);
});

Deno.test("only the topmost missing path is reported", () => {
  const real = fixture("legacy_channel_v2.json");
  const withoutChatroom = structuredClone(real);
  delete withoutChatroom.chatroom;
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(withoutChatroom)), [
    "chatroom: only in real (object)",
  ]);
  // A type change of a container reports the container, not everything under it.
  const flat = structuredClone(real);
  flat.user = "someone";
  assert.deepEqual(compareShapes(shapeOf(real), shapeOf(flat)), ["user: object vs string"]);
});

Deno.test("the root and mixed types are shown readably", () => {
  assert.deepEqual(compareShapes(shapeOf({ a: 1 }), shapeOf([1])), ["(root): object vs array"]);
  assert.deepEqual(
    compareShapes(shapeOf({ a: [1, "x"] }), shapeOf({ a: [1] })),
    ["a[]: string|number vs number"],
  );
  assert.deepEqual(
    compareShapes(shapeOf({ a: [1, null] }), shapeOf({ a: ["x"] })),
    ["a[]: number|null vs string"],
  );
});
