import assert from "node:assert/strict";
import { formatProgress } from "../../src/cli/progress.ts";

Deno.test("formatProgress: done/total, rate and time left", () => {
  assert.equal(formatProgress(0, 200, 0), "0/200 (0%), starting");
  assert.equal(formatProgress(50, 200, 25_000), "50/200 (25%), 2.0/s, about 1 min 15 s left");
  assert.equal(formatProgress(150, 200, 75_000), "150/200 (75%), 2.0/s, about 25 s left");
  assert.equal(formatProgress(200, 200, 100_000), "200/200 (100%), 2.0/s, done");
});
