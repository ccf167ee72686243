/**
 * Benchmark 3, burst ingest: 100,000 transitions into PostgreSQL through the DatabaseWriter as the daemon
 * runs it (batches of up to 1,000 into the set-based `store.applyTransitions`, a few transactions on disjoint
 * streamers in flight) against one statement per transition (`store.applyTransitionsOneByOne`), in the same
 * run on the same server, each in its own schema.
 */
import { openStore, type Store } from "../src/store/store.ts";
import type { Transition } from "../src/domain/types.ts";
import { createBenchDatabase, type Figure, round } from "./lib.ts";
import { DatabaseWriter } from "../src/journal/database_writer.ts";
import { sleep } from "../src/lib/backoff.ts";

export interface IngestOptions {
  /** Transitions through the batched writer (default 100,000). */
  total?: number;
  /** Transitions through the per-row writer, extrapolated (default 10,000). */
  perRowTotal?: number;
  /** Transitions per call (default 1,000: the DatabaseWriter's maxBatch). */
  batch?: number;
  /** Batches in flight (default 3: the daemon's on PostgreSQL). */
  concurrency?: number;
  streamers?: number;
}

const T0 = Date.parse("2026-11-25T00:00:00.000Z");

/** `count` transitions over `streamers` streamers, each alternating online/offline a minute apart. */
export function makeTransitions(prefix: string, count: number, streamers: number): Transition[] {
  const out: Transition[] = [];
  for (let i = 0; i < count; i++) {
    const s = i % streamers;
    const step = Math.floor(i / streamers);
    const type = step % 2 === 0 ? "online" : "offline";
    const slug = `${prefix}${s}`;
    const occurredAt = new Date(T0 + step * 60_000 + s);
    const livestreamId = 1_000_000 + s * 1_000 + Math.floor(step / 2);
    out.push({
      dedupeKey: `${slug}:${type}:${livestreamId}`,
      slug,
      type,
      occurredAt,
      receivedAt: new Date(occurredAt.getTime() + 150),
      source: "pusher",
      livestreamId,
      title: type === "online" ? `${slug} stream ${step}` : null,
      category: type === "online" ? "Just Chatting" : null,
      baseline: false,
      raw: type === "online"
        ? {
          livestream: {
            id: livestreamId,
            channel_id: 7 + s,
            session_title: `${slug} stream ${step}`,
            source: null,
            created_at: occurredAt.toISOString(),
          },
        }
        : { livestream: { id: livestreamId, channel: { id: 7 + s, is_banned: false } } },
    });
  }
  return out;
}

async function prepare(url: string, schema: string, prefix: string, n: number): Promise<Store> {
  const store = await openStore({ databaseUrl: url, schema });
  await store.migrate();
  const rows = [];
  for (let s = 0; s < n; s++) rows.push({ slug: `${prefix}${s}`, broadcasterUserId: s + 1 });
  await store.addStreamers(rows);
  return store;
}

async function timeWriter(
  transitions: Transition[],
  batch: number,
  write: (batch: Transition[]) => Promise<{ inserted: number }>,
): Promise<{ seconds: number; inserted: number }> {
  let inserted = 0;
  const started = performance.now();
  for (let i = 0; i < transitions.length; i += batch) {
    inserted += (await write(transitions.slice(i, i + batch))).inserted;
  }
  return { seconds: (performance.now() - started) / 1000, inserted };
}

/** Times the DatabaseWriter over `transitions` queued at once (a burst), as the daemon would write them. */
async function timeDatabaseWriter(
  transitions: Transition[],
  options: { store: Store; batch: number; concurrency: number },
): Promise<{ seconds: number; inserted: number }> {
  let inserted = 0;
  let failure: unknown = null;
  const writer = new DatabaseWriter({
    store: {
      applyTransitions: async (batch, apply) => {
        const result = await options.store.applyTransitions(batch, apply);
        inserted += result.inserted;
        return result;
      },
    },
    cursor: { markCommitted: () => Promise.resolve() },
    maxBatch: options.batch,
    concurrency: options.concurrency,
    onError: (error) => failure ??= error,
  });
  const started = performance.now();
  writer.enqueue(transitions.map((transition, i) => ({ seq: i + 1, transition })));
  writer.start();
  while (writer.backlog > 0 && failure === null) await sleep(1);
  const seconds = (performance.now() - started) / 1000;
  await writer.stop();
  if (failure !== null) throw failure;
  return { seconds, inserted };
}

/** Runs benchmark 3 and returns its figures. */
export async function runIngest(options: IngestOptions = {}): Promise<Figure[]> {
  const total = options.total ?? 100_000;
  const perRowTotal = options.perRowTotal ?? 10_000;
  const batch = options.batch ?? 1_000;
  const streamers = options.streamers ?? 1_000;
  const concurrency = options.concurrency ?? 3;
  const database = await createBenchDatabase("ingest");
  let batched: Store | null = null;
  let perRow: Store | null = null;
  try {
    batched = await prepare(database.url, "batched", "b", streamers);
    perRow = await prepare(database.url, "per_row", "r", streamers);
    const fast = await timeDatabaseWriter(makeTransitions("b", total, streamers), {
      store: batched,
      batch,
      concurrency,
    });
    // Replaying everything must change nothing: the writer is idempotent.
    const replay = await batched.applyTransitions(makeTransitions("b", batch, streamers));
    const slow = await timeWriter(
      makeTransitions("r", perRowTotal, streamers),
      batch,
      (b) => perRow!.applyTransitionsOneByOne(b),
    );
    if (fast.inserted !== total || slow.inserted !== perRowTotal || replay.inserted !== 0) {
      throw new Error(
        `Ingest recorded ${fast.inserted}/${total} (batched), ${slow.inserted}/${perRowTotal} (per row), ` +
          `${replay.inserted} on replay (expected 0)`,
      );
    }
    const fastRate = total / fast.seconds;
    const slowRate = perRowTotal / slow.seconds;
    return [
      {
        benchmark: "3 burst ingest (PostgreSQL)",
        figure: `batched writer, ${total.toLocaleString("en")} transitions`,
        unit: "transitions/s",
        ours: Math.round(fastRate),
        peer: Math.round(slowRate),
        ratio: round(fastRate / slowRate, 1),
        target: "≥ 20,000/s and ≥ 10× per-row",
        pass: fastRate >= 20_000 && fastRate / slowRate >= 10,
        note: `peer: one INSERT per transition, measured on ${
          perRowTotal.toLocaleString("en")
        } and taken as a rate; batches of ≤ ${batch}, ${concurrency} in flight; batched ${
          round(fast.seconds, 2)
        } s`,
      },
    ];
  } finally {
    await batched?.close();
    await perRow?.close();
    await database.drop();
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runIngest(), null, 2));
}
