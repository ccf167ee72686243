import assert from "node:assert/strict";
import { join } from "node:path";
import { Journal, parseJournal } from "../../src/journal/journal.ts";
import { DatabaseWriter } from "../../src/journal/database_writer.ts";
import type { Transition } from "../../src/domain/types.ts";
import { configureLogging } from "../../src/lib/log.ts";

function transition(n: number): Transition {
  const at = new Date(Date.UTC(2026, 10, 25, 18, 0, n));
  return {
    dedupeKey: `s:online:${n}`,
    slug: "s",
    type: n % 2 === 0 ? "online" : "offline",
    occurredAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: n,
    title: "t",
    category: null,
    baseline: false,
    raw: { n },
  };
}

Deno.test("journal: appended entries survive a reopen until committed, in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await Journal.open(dir);
    assert.equal(first.recovery.pending.length, 0);
    const entries = await first.journal.append([transition(1), transition(2), transition(3)]);
    assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3]);
    await first.journal.markCommitted(1);
    first.journal.close();

    const second = await Journal.open(dir);
    assert.deepEqual(second.recovery.pending.map((e) => e.seq), [2, 3]);
    assert.deepEqual(second.recovery.pending[0].transition, transition(2));
    const more = await second.journal.append([transition(4)]);
    assert.equal(more[0].seq, 4);
    second.journal.close();
    const mode = (await Deno.stat(join(dir, "journal.jsonl"))).mode! & 0o777;
    assert.equal(mode, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal: a partial last line is dropped and a corrupted line is skipped, the rest kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { journal } = await Journal.open(dir);
    await journal.append([transition(1), transition(2)]);
    journal.close();
    const path = join(dir, "journal.jsonl");
    const lines = (await Deno.readTextFile(path)).split("\n");
    await Deno.writeTextFile(path, `${lines[0]}\n{not json\n${lines[1]}\n{"seq":3,"transi`);
    const reopened = await Journal.open(dir);
    assert.deepEqual(reopened.recovery.pending.map((e) => e.seq), [1, 2]);
    assert.equal(reopened.recovery.corruptLines, 1);
    assert.equal(reopened.recovery.truncatedTail, true);
    const next = await reopened.journal.append([transition(3)]);
    assert.equal(next[0].seq, 3);
    reopened.journal.close();
    const again = await Journal.open(dir);
    assert.deepEqual(again.recovery.pending.map((e) => e.seq), [1, 2, 3]);
    again.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal parser: wrong shapes are counted as corrupt, never thrown", () => {
  const text = [
    "[]",
    '{"seq":"1"}',
    '{"seq":1,"transition":{"slug":"s"}}',
    JSON.stringify({ seq: 2, transition: { ...transition(2), occurredAt: "nope" } }),
    "",
  ].join("\n");
  const parsed = parseJournal(text, 0);
  assert.equal(parsed.pending.length, 0);
  assert.equal(parsed.corruptLines, 4);
});

Deno.test("database writer: retries while the database is down, then writes everything in order once", async () => {
  const written: string[] = [];
  let down = true;
  const store = {
    applyTransitions(transitions: Transition[]) {
      if (down) return Promise.reject(new Error("connection refused"));
      for (const t of transitions) written.push(t.dedupeKey);
      return Promise.resolve({ inserted: transitions.length, skipped: 0 });
    },
  };
  let committedSeq = 0;
  const writer = new DatabaseWriter({
    store,
    cursor: { markCommitted: (seq) => Promise.resolve(void (committedSeq = seq)) },
    maxBatch: 2,
    retry: { baseMs: 5, capMs: 20 },
  });
  writer.start();
  writer.enqueue([1, 2, 3].map((n) => ({ seq: n, transition: transition(n) })));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(written.length, 0);
  assert.ok(writer.lastError?.includes("connection refused"));
  writer.enqueue([{ seq: 4, transition: transition(4) }]);
  down = false;
  const deadline = Date.now() + 2_000;
  while (writer.backlog > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await writer.stop();
  assert.deepEqual(written, ["s:online:1", "s:online:2", "s:online:3", "s:online:4"]);
  assert.equal(committedSeq, 4);
});

Deno.test("journal: compaction never races an append (nothing fails, nothing is lost)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Compact at every opportunity, and append at varying moments while a commit (and so a compaction) runs.
    const { journal } = await Journal.open(dir, { compactAfterBytes: 1 });
    let lastSeq = 0;
    for (let round = 0; round < 120; round++) {
      const [entry] = await journal.append([transition(round)]);
      lastSeq = entry.seq;
      const commit = journal.markCommitted(entry.seq);
      await new Promise((resolve) => setTimeout(resolve, round % 6));
      const [next] = await journal.append([transition(round + 1000)]);
      lastSeq = next.seq;
      await commit;
      if (round % 2 === 0) await journal.markCommitted(next.seq);
    }
    journal.close();
    const reopened = await Journal.open(dir);
    const committed = reopened.journal.committedSeq;
    const expected = Array.from({ length: lastSeq - committed }, (_, i) => committed + 1 + i);
    assert.deepEqual(reopened.recovery.pending.map((e) => e.seq), expected);
    reopened.journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal: corrupted lines are quarantined once, with one warning naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const logged: string[] = [];
  configureLogging({ write: (line) => logged.push(line), format: "json", level: "info" });
  try {
    const { journal } = await Journal.open(dir);
    await journal.append([transition(1), transition(2)]);
    journal.close();
    const path = join(dir, "journal.jsonl");
    const lines = (await Deno.readTextFile(path)).split("\n");
    const original = `${lines[0]}\n{not json\n${lines[1]}\n`;
    await Deno.writeTextFile(path, original);

    const first = await Journal.open(dir);
    assert.equal(first.recovery.corruptLines, 1);
    assert.deepEqual(first.recovery.pending.map((e) => e.seq), [1, 2]);
    await first.journal.append([transition(3)]);
    first.journal.close();
    const quarantined = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((name) => name.startsWith("journal.quarantine-"));
    assert.equal(quarantined.length, 1);
    assert.match(quarantined[0], /^journal\.quarantine-.*\.jsonl$/);
    const quarantinePath = join(dir, quarantined[0]);
    assert.equal(await Deno.readTextFile(quarantinePath), original, "kept as it was");
    assert.equal((await Deno.stat(quarantinePath)).mode! & 0o777, 0o600);
    assert.doesNotMatch(await Deno.readTextFile(path), /not json/, "the journal is clean");
    const warnings = logged.filter((line) => line.includes("corrupted"));
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].includes(quarantined[0]), "the warning names the quarantine file");

    logged.length = 0;
    const second = await Journal.open(dir);
    assert.equal(second.recovery.corruptLines, 0, "not reported again");
    assert.deepEqual(second.recovery.pending.map((e) => e.seq), [1, 2, 3]);
    second.journal.close();
    assert.equal(logged.filter((line) => line.includes("corrupted")).length, 0);
    assert.equal(
      [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("journal.quarantine-")).length,
      1,
    );
  } finally {
    configureLogging({ write: (line) => console.error(line) });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("journal: writes made while a group waits for the file join it (one fsync), numbered in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { journal } = await Journal.open(dir);
    const first = journal.write([transition(1)]);
    const second = journal.write([transition(2), transition(3)]);
    assert.equal(first.synced, second.synced, "one group, one fsync");
    assert.deepEqual([...first.entries, ...second.entries].map((e) => e.seq), [1, 2, 3]);
    assert.deepEqual(await journal.readAfter(0, 10), [], "nothing is read back before its fsync");
    await second.synced;
    const third = journal.write([transition(4)]);
    assert.notEqual(third.synced, first.synced, "a new group once the last one was written");
    await third.synced;
    assert.deepEqual((await journal.readAfter(0, 10)).map((e) => e.seq), [1, 2, 3, 4]);
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
