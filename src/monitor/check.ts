/**
 * `check`: one reconciliation pass against the official API, for cron. It records what changed when no
 * monitor runs (a running monitor records transitions itself, so two writers never race), in chunks, each
 * recorded before the next is asked for, so an interrupted pass keeps what it learned. A contradicting
 * answer is asked again before it is believed (status_machine.ts rules 3 and 4).
 */
import { join } from "node:path";
import type { Config } from "../config.ts";
import { sleep } from "../lib/backoff.ts";
import { lockHolder } from "../lib/file_lock.ts";
import { createKickClients, MONITOR_LOCK_FILE, withStore } from "../resources.ts";
import { Pipeline } from "./pipeline.ts";
import { PollSource } from "./sources/poll_pass.ts";

/** How long `check` waits before asking again about streamers whose answer contradicted their status. */
const CHECK_CONFIRM_DELAY_MS = 3_000;

/** A transition as `check --json` reports it. */
export interface CheckTransition {
  slug: string;
  type: string;
  occurred_at: string;
  baseline: boolean;
}

/** What `check` found (the JSON document, plus two fields the CLI uses). */
export interface CheckReport {
  checked: number;
  online: number;
  offline: number;
  not_found: string[];
  monitor_running: boolean;
  transitions: CheckTransition[];
  /** Streamers to check (not in the JSON document). */
  total: number;
  /** Stopped by Ctrl-C before every chunk was checked (not in the JSON document). */
  interrupted: boolean;
}

/** Streamers asked about and recorded together: a few API batches, so a long list shows progress. */
const CHECK_CHUNK = 100;

/**
 * One reconciliation pass, in chunks of {@link CHECK_CHUNK} streamers, each recorded before the next is asked
 * for: an interrupted pass keeps what it learned. When a monitor is running it only reports, so two writers
 * never race.
 */
export async function runCheck(
  config: Config,
  options: {
    signal?: AbortSignal;
    onTransitions?: (transitions: CheckTransition[]) => void;
    /** Streamers checked so far, of how many (for a progress line). */
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<CheckReport> {
  const kick = createKickClients(config);
  return await withStore(config, async (store) => {
    const streamers = await store.listStreamers();
    // Any monitor on this database (a live lease-holding instance) or on this data directory.
    const instances = await store.liveInstances(config.leaseTtlSeconds);
    const dirHolder = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
    const monitorRunning = instances.length > 0 || dirHolder !== null;
    const report: CheckReport = {
      checked: 0,
      online: 0,
      offline: 0,
      not_found: [],
      monitor_running: monitorRunning,
      transitions: [],
      total: streamers.length,
      interrupted: false,
    };
    const pipeline = new Pipeline({ offlineGraceMs: 0 });
    pipeline.sync(streamers);
    const poll = new PollSource({ api: kick.api });
    options.onProgress?.(0, streamers.length);
    for (let start = 0; start < streamers.length; start += CHECK_CHUNK) {
      const chunk = streamers.slice(start, start + CHECK_CHUNK);
      let result;
      const transitions = [];
      try {
        result = await poll.reconcile(chunk, options.signal);
        transitions.push(...result.observations.flatMap((o) => pipeline.ingest(o)));
        // A poll answer that contradicts the stored status is believed only when a second answer agrees
        // (status_machine.ts rules 3 and 4: Kick's API flickers and lags): those streamers are asked again.
        const suspects = new Set(pipeline.suspects());
        if (suspects.size > 0) {
          await sleep(CHECK_CONFIRM_DELAY_MS, options.signal);
          const again = await poll.reconcile(
            chunk.filter((s) => suspects.has(s.slug)),
            options.signal,
          );
          for (const o of again.observations) transitions.push(...pipeline.ingest(o));
        }
      } catch (error) {
        if (options.signal?.aborted) {
          report.interrupted = true;
          break;
        }
        throw error;
      }
      if (!monitorRunning) {
        await store.applyTransitions(transitions);
        await store.markChecked(result.observations.map((o) => o.slug), result.checkedAt);
        for (const { slug, channelId } of result.discoveredChannelIds) {
          await store.setStreamerIds(slug, { channelId });
        }
      }
      const described = transitions.map((t) => ({
        slug: t.slug,
        type: t.type,
        occurred_at: t.occurredAt.toISOString(),
        baseline: t.baseline,
      }));
      report.checked += result.observations.length;
      report.online += result.observations.filter((o) => o.status === "online").length;
      report.offline += result.observations.filter((o) => o.status === "offline").length;
      report.not_found.push(...result.missing);
      report.transitions.push(...described);
      options.onTransitions?.(described);
      options.onProgress?.(Math.min(start + chunk.length, streamers.length), streamers.length);
    }
    return report;
  });
}
