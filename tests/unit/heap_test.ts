import assert from "node:assert/strict";
import { releaseBurstHeap } from "../../src/lib/heap.ts";

Deno.test("releaseBurstHeap collects, and leaves this context without a gc global", () => {
  let garbage: unknown[] | null = Array.from({ length: 100_000 }, (_, i) => ({ i }));
  assert.equal(garbage.length, 100_000);
  garbage = null;
  assert.equal(releaseBurstHeap(), true);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  // Twice is as good as once.
  assert.equal(releaseBurstHeap(), true);
});
