/**
 * Benchmark 5, reconciliation: one pass over 10,000 streamers through the poll source and the official-API
 * client (batches of 25, KICK_API_RATE=10) against the fake Kick limited server-side to 10 requests/s. 400
 * channel requests, plus the once-per-run check of the 1,000 live streamers' channel ids against
 * `/public/v1/livestreams` (40 requests of 25: a stored id Kick contradicts is corrected, kick-api.md §1.5), at
 * 10/s is a 44 s floor; the target is to finish within 5% of it without provoking a 429.
 */
import { validateSettings } from "../src/config.ts";
import { createKickClients } from "../src/resources.ts";
import { PollSource } from "../src/monitor/sources/poll_pass.ts";
import { startFakeKick } from "../src/sim/kick.ts";
import { FakeWorld } from "../src/sim/world.ts";
import { type Figure, round } from "./lib.ts";

export interface ReconcileOptions {
  streamers?: number;
  ratePerSecond?: number;
  batchSize?: number;
}

/** Runs benchmark 5 with the client as `service start` builds it (createKickClients). */
export async function runReconcile(options: ReconcileOptions = {}): Promise<Figure[]> {
  return [await onePass(options)];
}

async function onePass(options: ReconcileOptions): Promise<Figure> {
  const count = options.streamers ?? 10_000;
  const rate = options.ratePerSecond ?? 10;
  const batch = options.batchSize ?? 25;
  const world = new FakeWorld();
  const slugs: string[] = [];
  let live = 0;
  for (let i = 0; i < count; i++) {
    const slug = `recon_${i}`;
    slugs.push(slug);
    world.addStreamer(slug);
    if (i % 10 === 0) {
      world.goLive(slug);
      live++;
    }
  }
  const kick = await startFakeKick({
    world,
    clientId: "bench",
    clientSecret: "bench-secret",
    rateLimitPerSecond: rate,
  });
  try {
    const settings = validateSettings({
      KICK_CLIENT_ID: "bench",
      KICK_CLIENT_SECRET: "bench-secret",
      KICK_OAUTH_URL: kick.url,
      KICK_API_URL: kick.url,
      KICK_API_RATE: String(rate),
      KICK_API_BATCH_SIZE: String(batch),
    });
    if (settings.config === null) throw new Error(settings.problems.join("; "));
    const config = settings.config;
    const api = createKickClients(config).api;
    const poll = new PollSource({ api });
    const streamers = slugs.map((slug) => ({
      slug,
      broadcasterUserId: world.get(slug).broadcasterUserId,
      channelId: world.get(slug).channelId,
    }));
    const started = performance.now();
    const result = await poll.reconcile(streamers);
    const seconds = (performance.now() - started) / 1000;
    if (result.observations.length !== count) {
      throw new Error(`Reconciliation observed ${result.observations.length} of ${count}`);
    }
    const channelRequests = Math.ceil(count / batch);
    const idChecks = Math.ceil(live / batch);
    const requests = channelRequests + idChecks;
    const floor = requests / rate;
    const throttled = kick.stats.throttled;
    return {
      benchmark: `5 reconciliation (${
        count.toLocaleString("en")
      } streamers, ${rate} req/s, batch ${batch})`,
      figure: "one pass, client as service start builds it",
      unit: "s",
      ours: round(seconds, 2),
      peer: floor,
      ratio: round(seconds / floor, 3),
      target: "≤ 1.05 × floor, no 429",
      pass: seconds <= floor * 1.05 && throttled === 0,
      note:
        `peer = floor (${channelRequests} channel requests + ${idChecks} channel-id checks of live ` +
        `streamers, at ${rate}/s); ${kick.stats.requests} requests in all ` +
        `(with the OAuth token), ${throttled} answered 429`,
    };
  } finally {
    await kick.close();
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runReconcile(), null, 2));
}
