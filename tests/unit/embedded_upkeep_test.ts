/** planUpkeep: autovacuum's default thresholds, applied to the statistics (store/embedded_upkeep.ts). */
import assert from "node:assert/strict";
import { planUpkeep, type TableActivity } from "../../src/store/embedded_upkeep.ts";

function table(overrides: Partial<TableActivity>): TableActivity {
  return {
    schema: "public",
    table: "t",
    live: 1000,
    dead: 0,
    modifiedSinceAnalyze: 0,
    insertedSinceVacuum: 0,
    xidAge: 1000,
    ...overrides,
  };
}

Deno.test("upkeep plan: a quiet table needs nothing", () => {
  assert.deepEqual(
    planUpkeep([table({ dead: 250, modifiedSinceAnalyze: 150, insertedSinceVacuum: 1200 })]),
    [],
  );
});

Deno.test("upkeep plan: dead rows past 50 + 20% of the rows ask for a vacuum", () => {
  assert.deepEqual(planUpkeep([table({ dead: 251 })]), [
    { schema: "public", table: "t", vacuum: true, analyze: false },
  ]);
});

Deno.test("upkeep plan: inserts past 1,000 + 20% ask for a vacuum (an append-only table is frozen too)", () => {
  assert.deepEqual(planUpkeep([table({ table: "events", insertedSinceVacuum: 1201 })]), [
    { schema: "public", table: "events", vacuum: true, analyze: false },
  ]);
});

Deno.test("upkeep plan: changes past 50 + 10% since the last analyze ask for an analyze", () => {
  // A table never analyzed, just filled (2,000 streamers added): the planner knows nothing of it yet.
  assert.deepEqual(planUpkeep([table({ live: 0, modifiedSinceAnalyze: 2000 })]), [
    { schema: "public", table: "t", vacuum: false, analyze: true },
  ]);
  assert.deepEqual(planUpkeep([table({ modifiedSinceAnalyze: 151 })]), [
    { schema: "public", table: "t", vacuum: false, analyze: true },
  ]);
});

Deno.test("upkeep plan: a table 200 million transactions old is vacuumed against wraparound", () => {
  assert.deepEqual(planUpkeep([table({ xidAge: 200_000_001 })]), [
    { schema: "public", table: "t", vacuum: true, analyze: false },
  ]);
});

Deno.test("upkeep plan: only the tables that need it, both steps where both are due", () => {
  const plan = planUpkeep([
    table({ table: "a" }),
    table({ table: "b", dead: 5000, modifiedSinceAnalyze: 5000 }),
    table({ table: "c", modifiedSinceAnalyze: 10 }),
  ]);
  assert.deepEqual(plan, [{ schema: "public", table: "b", vacuum: true, analyze: true }]);
});
