/**
 * The soak's lease sampler (lease_watch.ts) against PostgreSQL (with TEST_DATABASE_URL): its SQL reads the
 * lease tables by their fixed names, ownerless streamers are found, and a row committed after a newer claim was
 * visible is caught as a stale write. Before leases are migrated (sql/005_leases.sql), the test makes stand-ins
 * with the fixed names and columns.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { testBackends } from "../helpers/db.ts";
import { assertLeaseSchema, LeaseWatch, NEEDS_LEASES } from "./lease_watch.ts";

const backend = testBackends().find((b) => b.name === "postgres");

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until the watch has taken two more samples: one may have begun before the change, the next did not. */
async function twoSamples(watch: LeaseWatch): Promise<void> {
  const target = watch.samples + 2;
  while (watch.samples < target) await sleep(20);
}

Deno.test({
  name: "lease watch: ownerless streamers and a write committed after a newer claim",
  ignore: backend === undefined,
  sanitizeResources: false,
  async fn() {
    const database = await backend!.open();
    const url = database.options.databaseUrl!;
    const schema = database.options.schema!;
    const sql = postgres(url, {
      max: 2,
      onnotice: () => {},
      connection: { search_path: schema },
    });
    try {
      await database.store.migrate();
      const migrated = await assertLeaseSchema(sql).then(() => true, (error) => {
        assert.equal(error.message, NEEDS_LEASES);
        return false;
      });
      if (!migrated) {
        await sql.unsafe(`
          CREATE TABLE instances (id text PRIMARY KEY, started_at timestamptz NOT NULL DEFAULT now(),
                                  last_seen_at timestamptz NOT NULL DEFAULT now());
          CREATE TABLE streamer_leases (streamer_id bigint PRIMARY KEY REFERENCES streamers (id),
                                        owner text, epoch bigint NOT NULL DEFAULT 0,
                                        expires_at timestamptz, handover_to text);
          CREATE TABLE lease_log (streamer_id bigint NOT NULL, epoch bigint NOT NULL, owner text NOT NULL,
                                  acquired_at timestamptz NOT NULL DEFAULT now());
          ALTER TABLE status_events ADD COLUMN instance text, ADD COLUMN epoch bigint;`);
        await assertLeaseSchema(sql);
      }
      await database.store.addStreamers([
        { slug: "a", broadcasterUserId: 1, channelId: 11, chatroomId: null },
        { slug: "b", broadcasterUserId: 2, channelId: 12, chatroomId: null },
      ]);
      const ids = await sql<
        { id: string; slug: string }[]
      >`SELECT id, slug FROM streamers ORDER BY slug`;
      const [a, b] = ids.map((r) => Number(r.id));
      await sql`INSERT INTO instances (id) VALUES ('m1'), ('m2')`;
      // The real migration gives every streamer its (unowned) lease row as it is added.
      const claim = (streamerId: number, owner: string, epoch: number) =>
        sql`INSERT INTO streamer_leases (streamer_id, owner, epoch, expires_at)
            VALUES (${streamerId}, ${owner}, ${epoch}, now() + interval '1 minute')
            ON CONFLICT (streamer_id) DO UPDATE
              SET owner = excluded.owner, epoch = excluded.epoch, expires_at = excluded.expires_at`;
      // m1 holds a at epoch 1; nobody holds b yet.
      await claim(a, "m1", 1);
      await sql`INSERT INTO lease_log (streamer_id, epoch, owner) VALUES (${a}, 1, 'm1')`;

      const disabled = new Set<string>();
      const watch = new LeaseWatch(sql, {
        disabled: () => disabled,
        clipped: () => false,
        everyMs: 50,
      });
      watch.start();
      watch.startTracking();
      await twoSamples(watch);
      assert.equal(watch.ownerless, 1, "b has no lease");
      assert.equal(watch.settledSince(0), false);
      await claim(b, "m2", 1);
      await sql`INSERT INTO lease_log (streamer_id, epoch, owner) VALUES (${b}, 1, 'm2')`;
      const event = (streamerId: number, instance: string, epoch: number, key: string) =>
        sql`INSERT INTO status_events (streamer_id, type, occurred_at, received_at, source, dedupe_key,
                                       instance, epoch)
            VALUES (${streamerId}, 'online', now(), now(), 'pusher', ${key}, ${instance}, ${epoch})`;
      await event(a, "m1", 1, "k1");
      await twoSamples(watch);
      const settledFrom = Date.now();
      await sleep(200);
      await twoSamples(watch);
      assert.equal(watch.ownerless, 0);
      assert.ok(watch.settledSince(settledFrom));
      // m1 is paused: its lease counts as ownerless; m2 claims a at epoch 2.
      disabled.add("m1");
      await sleep(200);
      await twoSamples(watch);
      assert.equal(watch.ownerless, 1);
      await sql`UPDATE streamer_leases SET owner = 'm2', epoch = 2 WHERE streamer_id = ${a}`;
      await sql`INSERT INTO lease_log (streamer_id, epoch, owner) VALUES (${a}, 2, 'm2')`;
      disabled.delete("m1");
      await twoSamples(watch);
      // m1 resumes and its stale write gets through: committed after m2's claim was visible.
      await event(a, "m1", 1, "k2");
      await twoSamples(watch);
      await watch.stop();
      const figures = await watch.figures([{ kind: "instance-pause", at: 0, instance: "m1" }]);
      assert.equal(figures.claims, 3);
      assert.equal(figures.recorded, 2);
      assert.equal(figures.attributed, 2);
      assert.deepEqual(figures.staleAccepted.map((s) => s.reason), ["after-newer-claim"]);
      const longest = figures.longestOwnerless!;
      // Samples may stall on a busy machine: the stretch is there, its length is not pinned.
      assert.ok(longest.ms > 0, `longest ownerless ${longest.ms} ms`);
      assert.equal(longest.fault?.kind, "instance-pause");
    } finally {
      await sql.end({ timeout: 1 });
      await database.cleanup();
    }
  },
});
