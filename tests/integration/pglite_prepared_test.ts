/**
 * The embedded database's prepared statements (src/store/pglite_db.ts) after a schema change: a statement
 * whose result type changed fails once (0A000, as on PostgreSQL), is prepared again, and the old one does
 * not stay on the server.
 */
import assert from "node:assert/strict";
import { PgliteDb } from "../../src/store/pglite_db.ts";
import type { Db } from "../../src/store/db.ts";
import { testBackends } from "../helpers/db.ts";

async function ours(db: Db): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    "SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'kick_monitor_q') ORDER BY name",
  );
  return rows.map((r) => r.name);
}

Deno.test("pglite: a statement whose result type changed is prepared again, and the old one is closed", async () => {
  const opened = await testBackends().find((b) => b.name === "pglite")!.open();
  try {
    const db = opened.store.db;
    assert.ok(db instanceof PgliteDb);
    await db.exec("CREATE TABLE widgets (id int PRIMARY KEY)");
    await db.query("INSERT INTO widgets VALUES ($1)", [1]);
    assert.deepEqual(await db.query("SELECT * FROM widgets"), [{ id: 1 }]);
    const before = await ours(db);

    await db.exec("ALTER TABLE widgets ADD COLUMN label text NOT NULL DEFAULT 'w'");
    // Inside a transaction, as the writer runs it: the error aborts it, so nothing can be closed there.
    await assert.rejects(
      db.transaction((tx) => tx.query("SELECT * FROM widgets")),
      (error: { code?: string }) => error.code === "0A000",
    );
    assert.deepEqual(await db.transaction((tx) => tx.query("SELECT * FROM widgets")), [
      { id: 1, label: "w" },
    ]);

    const after = await ours(db);
    assert.equal(after.length, before.length, `one statement per text: ${before} → ${after}`);
    const dropped = before.filter((name) => !after.includes(name));
    assert.equal(dropped.length, 1, "the stale statement is closed on the server");
  } finally {
    await opened.cleanup();
  }
});
