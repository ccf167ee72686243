/**
 * The buffer in front of the journal (src/journal/pre_journal.ts): bounded while the journal cannot be written,
 * and `stop()` finishes whatever the journal's state (issue 12, item 5: it used to retry every 500 ms forever).
 */
import assert from "node:assert/strict";
import type { Transition } from "../../src/domain/types.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { PreJournal } from "../../src/journal/pre_journal.ts";
import { Registry } from "../../src/http/metrics.ts";
import { configureLogging } from "../../src/lib/log.ts";
import { numberedTransition as transition } from "../helpers/transitions.ts";

configureLogging({ write: () => {} });

/** A journal whose disk is full until `heal()`. */
function fullDisk() {
  let full = true;
  let seq = 0;
  const appended: Transition[] = [];
  return {
    appended,
    heal: () => full = false,
    append(transitions: Transition[]): Promise<JournalEntry[]> {
      if (full) return Promise.reject(new Error("No space left on device (os error 28)"));
      appended.push(...transitions);
      return Promise.resolve(transitions.map((transition) => ({ seq: ++seq, transition })));
    },
    /** Numbered at once, like the journal; refused by a full disk when it syncs. */
    write(transitions: Transition[]): { entries: JournalEntry[]; synced: Promise<void> } {
      const entries = transitions.map((transition) => ({ seq: ++seq, transition }));
      if (full) {
        return {
          entries,
          synced: Promise.reject(new Error("No space left on device (os error 28)")),
        };
      }
      appended.push(...transitions);
      return { entries, synced: Promise.resolve() };
    },
    clearFailure() {},
  };
}

Deno.test("pre-journal: bounded while the journal fails; the overflow is dropped, counted and handed back", async () => {
  const journal = fullDisk();
  const enqueued: JournalEntry[] = [];
  const dropped: Transition[] = [];
  const metrics = new Registry();
  const buffer = new PreJournal({
    journal,
    // Like the database writer: only entries whose journal write succeeded count as done.
    writer: {
      enqueue: (entries, durable) => void durable?.then(() => enqueued.push(...entries), () => {}),
    },
    dropped: (transitions) => dropped.push(...transitions),
    metrics,
    max: 100,
    retry: { baseMs: 5, capMs: 10 },
  });
  for (let i = 0; i < 250; i++) buffer.add([transition(`s${i % 7}`, i)]);
  assert.ok(buffer.size <= 100, `held ${buffer.size}`);
  assert.equal(dropped.length, 150);
  assert.match(metrics.render(), /kick_monitor_transitions_dropped_total 150/);
  journal.heal();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(buffer.size, 0);
  assert.equal(
    enqueued.length,
    100,
    "what was kept is journaled, in order, once the disk has room",
  );
  assert.deepEqual(
    enqueued.map((e) => e.transition.dedupeKey),
    journal.appended.map((t) => t.dedupeKey),
  );
  await buffer.stop();
});

Deno.test("pre-journal: stop() finishes on a full disk, saying what could not be journaled", async () => {
  const journal = fullDisk();
  const dropped: Transition[] = [];
  const buffer = new PreJournal({
    journal,
    writer: { enqueue: () => {} },
    dropped: (transitions) => dropped.push(...transitions),
    retry: { baseMs: 60_000, capMs: 60_000 },
  });
  buffer.add([transition("a", 1), transition("b", 2)]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = Date.now();
  await buffer.stop();
  assert.ok(Date.now() - started < 1_000, "stop did not wait for the retry");
  assert.deepEqual(dropped.map((t) => t.slug), ["a", "b"]);
  assert.equal(buffer.size, 0);
});

/**
 * A journal like journal.ts: numbers at once, syncs groups one after another, and once a group is refused
 * refuses every later one until `clearFailure()`. `refuse` says which group (by count) the disk refuses.
 */
function flakyJournal(refuse: (group: number) => boolean) {
  let seq = 0;
  let groups = 0;
  let failed = false;
  let queue: Promise<void> = Promise.resolve();
  const durable: Transition[] = [];
  const journal = {
    durable,
    append(transitions: Transition[]): Promise<JournalEntry[]> {
      const { entries, synced } = journal.write(transitions);
      return synced.then(() => entries);
    },
    write(transitions: Transition[]): { entries: JournalEntry[]; synced: Promise<void> } {
      const entries = transitions.map((transition) => ({ seq: ++seq, transition }));
      const group = ++groups;
      const synced = queue.then(async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (failed || refuse(group)) {
          failed = true;
          throw new Error("No space left on device (os error 28)");
        }
        durable.push(...transitions);
      });
      queue = synced.catch(() => {});
      return { entries, synced };
    },
    clearFailure: () => void (failed = false),
  };
  return journal;
}

Deno.test("pre-journal: a refused group and every group after it are journaled again, in their order", async () => {
  const journal = flakyJournal((group) => group === 3 || group === 9);
  const acknowledged: string[] = [];
  const buffer = new PreJournal({
    journal,
    // Like the database writer: an entry counts once its journal write has succeeded.
    writer: {
      enqueue: (entries, durable) =>
        void durable?.then(
          () => acknowledged.push(...entries.map((e) => e.transition.dedupeKey)),
          () => {},
        ),
    },
    dropped: () => assert.fail("nothing is dropped"),
    retry: { baseMs: 2, capMs: 5 },
  });
  const added: Transition[] = [];
  for (let i = 0; i < 60; i++) {
    const t = transition(`s${i % 4}`, i);
    added.push(t);
    buffer.add([t]);
    if (i % 6 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await buffer.flushed(5_000);
  await buffer.stop();
  assert.deepEqual(journal.durable.map((t) => t.dedupeKey), added.map((t) => t.dedupeKey));
  assert.deepEqual(acknowledged, added.map((t) => t.dedupeKey));
});
