/**
 * A 45-second soak (tests/soak/harness.ts) inside `deno task test`: the real daemon, 200 streamers flipping,
 * faults taken in a seeded round of every kind (as many as fit in 45 s), durations scaled down. Runs when
 * TEST_DATABASE_URL is set. The seed is printed; replay a failure with `deno task soak --duration 45s --seed N`.
 */
import assert from "node:assert/strict";
import { formatReport, runSoak } from "../soak/harness.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");

Deno.test({
  name: "soak: 45 s of flips and faults lose no transition and duplicate none",
  ignore: !TEST_DATABASE_URL,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seed = Number(Deno.env.get("SOAK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`soak seed ${seed}`);
    const report = await runSoak({
      durationMs: 45_000,
      seed,
      databaseUrl: TEST_DATABASE_URL!,
    });
    const lines = formatReport(report);
    console.log(lines.join("\n"));
    assert.equal(report.comparison.missing, 0, lines.join("\n"));
    assert.equal(report.comparison.duplicated, 0, lines.join("\n"));
    // A spurious row that changes the state (once counted as duplicated) is a false transition now.
    assert.equal(report.comparison.falseTransitions, 0, lines.join("\n"));
    assert.equal(report.unexpectedExits, 0, lines.join("\n"));
    assert.equal(report.finalExitCode, 0, lines.join("\n"));
    assert.ok(report.comparison.expected > 100, "the schedule flipped enough streamers");
  },
});
