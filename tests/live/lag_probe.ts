/**
 * `deno task lag-probe [--minutes 10] [--channels 20]`: with real credentials (KICK_CLIENT_ID/SECRET), measures
 * how far Kick's official `/public/v1/channels` lags its Pusher websocket, the number the status machine's
 * rules are sized by (status_machine.ts: a poll answer contradicting a push younger than one poll interval is
 * the API's cache). It takes the channel ids of live channels from `/public/v1/livestreams` (the one place
 * that gives them, kick-api.md §1.5), subscribes them on Pusher, and after each StreamerIsLive /
 * StopStreamBroadcast asks the API once a second until it agrees; then prints a histogram of the lags, and
 * how often the API said the opposite before agreeing again (flicker).
 *
 * Read-only: nothing is stored. Network use: one API request per second at most (KICK_API_RATE).
 */
import { parseArgs } from "node:util";
import type { Observation } from "../../src/domain/types.ts";
import type { KickApi } from "../../src/kick/api.ts";
import { PusherSource } from "../../src/monitor/sources/pusher_source.ts";
import { sleep } from "../../src/lib/backoff.ts";
import { describeError } from "../../src/lib/errors.ts";

/** One measured change: how long the API took to agree with Pusher (null: it never did within the wait). */
export interface LagSample {
  slug: string;
  type: "online" | "offline";
  lagMs: number | null;
  /** API answers that disagreed before the first agreeing one. */
  disagreements: number;
}

/** Upper bounds (seconds) of the histogram's buckets. */
export const LAG_BUCKETS = [1, 2, 3, 5, 10, 20, 30, 60, 120];

/** The histogram and percentiles as printable lines (pure). */
export function formatLagReport(samples: LagSample[]): string[] {
  const lags = samples.flatMap((s) => (s.lagMs === null ? [] : [s.lagMs])).sort((a, b) => a - b);
  const never = samples.length - lags.length;
  const lines = [`${samples.length} change(s) seen on Pusher; the API agreed with ${lags.length}.`];
  if (samples.length === 0) return lines;
  const width = 40;
  const counts = LAG_BUCKETS.map((bound, i) =>
    lags.filter((lag) => lag <= bound * 1000 && (i === 0 || lag > LAG_BUCKETS[i - 1] * 1000)).length
  );
  counts.push(lags.filter((lag) => lag > LAG_BUCKETS.at(-1)! * 1000).length);
  const most = Math.max(1, ...counts, never);
  counts.forEach((count, i) => {
    const label = i < LAG_BUCKETS.length ? `<= ${LAG_BUCKETS[i]} s` : `>  ${LAG_BUCKETS.at(-1)} s`;
    lines.push(
      `${label.padEnd(9)} ${String(count).padStart(5)} ${
        "#".repeat(Math.round(count / most * width))
      }`,
    );
  });
  if (never > 0) {
    lines.push(
      `never     ${String(never).padStart(5)} ${"#".repeat(Math.round(never / most * width))}`,
    );
  }
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))];
  if (lags.length > 0) {
    lines.push(
      `p50 ${(at(0.5) / 1000).toFixed(1)} s, p90 ${(at(0.9) / 1000).toFixed(1)} s, ` +
        `p99 ${(at(0.99) / 1000).toFixed(1)} s, max ${(lags.at(-1)! / 1000).toFixed(1)} s`,
    );
  }
  const flickered = samples.filter((s) => s.disagreements > 0 && s.lagMs !== null).length;
  lines.push(`${flickered} change(s) had at least one disagreeing answer before the API agreed.`);
  return lines;
}

/** Options of {@link probeLag}. */
export interface LagProbeOptions {
  api: KickApi;
  pusherUrl: string;
  /** The channels to watch: slug, user id and Pusher channel id. */
  channels: { slug: string; broadcasterUserId: number; channelId: number }[];
  durationMs: number;
  /** How long to keep asking after a change before giving up on it. */
  maxWaitMs?: number;
  /** Between two questions about one change. */
  askEveryMs?: number;
  signal?: AbortSignal;
  onSample?: (sample: LagSample) => void;
}

/** Watches `channels` for `durationMs` and measures the API's lag behind each Pusher change. */
export async function probeLag(options: LagProbeOptions): Promise<LagSample[]> {
  const samples: LagSample[] = [];
  const pending = new Set<Promise<void>>();
  const userIdOf = new Map(options.channels.map((c) => [c.slug, c.broadcasterUserId]));
  const seen = new Set<string>();
  const measure = async (observation: Observation): Promise<void> => {
    const userId = userIdOf.get(observation.slug)!;
    const wantLive = observation.status === "online";
    const started = observation.receivedAt.getTime();
    let disagreements = 0;
    let lagMs: number | null = null;
    while (Date.now() - started < (options.maxWaitMs ?? 120_000) && !options.signal?.aborted) {
      try {
        const answer = await options.api.getChannelsByBroadcasterId([userId], {
          signal: options.signal,
        });
        const live = answer.channels.get(userId)?.isLive;
        if (live === wantLive) {
          lagMs = Date.now() - started;
          break;
        }
        disagreements++;
      } catch (error) {
        if (options.signal?.aborted) break;
        console.error(`asking about ${observation.slug} failed: ${describeError(error)}`);
      }
      await sleep(options.askEveryMs ?? 1_000, options.signal).catch(() => {});
    }
    const sample = { slug: observation.slug, type: observation.status, lagMs, disagreements };
    samples.push(sample);
    options.onSample?.(sample);
  };
  const source = new PusherSource({
    url: options.pusherUrl,
    channelsPerSocket: 100,
    emit: (observation) => {
      // Both channel names carry each event: measure it once.
      const key = `${observation.slug}:${observation.status}:${observation.livestreamId}`;
      if (seen.has(key)) return;
      seen.add(key);
      const run = measure(observation).finally(() => pending.delete(run));
      pending.add(run);
    },
    onReconnected: () => {},
  });
  source.setStreamers(options.channels.map((c) => ({ slug: c.slug, channelId: c.channelId })));
  source.start();
  try {
    await sleep(options.durationMs, options.signal).catch(() => {});
  } finally {
    await source.stop();
    await Promise.all(pending);
  }
  return samples;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "10" },
      channels: { type: "string", default: "20" },
    },
  });
  const minutes = Number(values.minutes);
  const count = Number(values.channels);
  if (!(minutes > 0) || !Number.isInteger(count) || count < 1 || count > 100) {
    console.error("Usage: deno task lag-probe [--minutes 10] [--channels 1-100]");
    Deno.exit(2);
  }
  const { loadConfig } = await import("../../src/config.ts");
  const { createKickClients } = await import("../../src/resources.ts");
  const config = loadConfig({});
  const { api } = createKickClients(config);
  const live = await api.listLivestreams(count);
  if (live.length === 0) {
    console.error("Kick lists no live streams right now; nothing to watch.");
    Deno.exit(1);
  }
  console.error(`Watching ${live.length} live channel(s) for ${minutes} min…`);
  const controller = new AbortController();
  Deno.addSignalListener("SIGINT", () => controller.abort());
  const samples = await probeLag({
    api,
    pusherUrl: config.pusherUrl,
    channels: live,
    durationMs: minutes * 60_000,
    signal: controller.signal,
    onSample: (s) =>
      console.error(
        `${s.slug} ${s.type}: ${s.lagMs === null ? "never agreed" : `${s.lagMs} ms`} ` +
          `(${s.disagreements} disagreeing answer(s))`,
      ),
  });
  console.log(formatLagReport(samples).join("\n"));
}
