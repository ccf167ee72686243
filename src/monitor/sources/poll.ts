/**
 * The poll source (contracts.ts): reconciliation against Kick's official API as `poll` evidence. The passes
 * and what they teach about the streamers themselves (renames, missing channels, ids) are the Reconciler's
 * (src/monitor/sources/reconciler.ts); this file is its timer and its place among the sources.
 */
import type { StreamerRecord } from "../../store/store.ts";
import type { Source, SourceContext, SourceFactory } from "../contracts.ts";
import { PollSource } from "./poll_pass.ts";
import { Reconciler } from "./reconciler.ts";

/**
 * How long after a contradicting answer the API is asked again (status_machine.ts rules 3 and 4): long enough
 * that the second answer is not the same cached one, short enough to record the change promptly.
 */
export const CONFIRM_AFTER_MS = 5_000;
/**
 * The poll source as the monitor runs it (contracts.ts): a pass at start, at every interval
 * (KICK_MONITOR_POLL_INTERVAL), when another source asks (a Pusher reconnect), and follow-ups for answers
 * that contradicted what was known. Its observations are `poll` evidence.
 */
export const pollSource: SourceFactory = {
  name: "poll",
  create(context: SourceContext): Source {
    const pollIntervalMs = context.config.pollIntervalSeconds * 1000;
    let streamers: StreamerRecord[] = [];
    const reconciler = new Reconciler({
      poll: new PollSource({
        api: context.api,
        now: () => context.now(),
        batchSize: context.config.apiBatchSize,
        // Never longer than an interval (at least 5 s): the next pass asks again anyway.
        batchDeadlineMs: Math.max(5_000, pollIntervalMs),
      }),
      store: context.store,
      metrics: context.metrics,
      pollIntervalMs,
      streamers: () => streamers,
      ingest: (observations) => context.emit(observations),
      followUps: (now) => context.pipeline.followUps(now, CONFIRM_AFTER_MS),
      statusOf: (slug) => context.pipeline.statusOf(slug),
      backlog: () => context.backlog(),
      renamed: (slug, newSlug) => {
        context.pipeline.rename(slug, newSlug);
        context.streamersChanged();
      },
      idsChanged: () => context.streamersChanged(),
      signal: context.signal,
      now: () => context.now(),
    });
    let timer: ReturnType<typeof setInterval> | undefined;
    let known = new Set<string>();
    let started = false;
    return {
      name: "poll",
      async start() {
        timer = setInterval(() => reconciler.request("interval"), pollIntervalMs);
        started = true;
        await reconciler.request("start");
      },
      async stop() {
        clearInterval(timer);
        await reconciler.stop();
      },
      streamersChanged(records) {
        streamers = [...records];
        const added = records.some((r) => !known.has(r.slug));
        known = new Set(records.map((r) => r.slug));
        if (added && started) void reconciler.request("streamers added");
      },
      reconcile: (reason) => reconciler.request(reason),
      observed(observation) {
        // A metadata push (a title change) says nothing of the status the reconciler watches.
        if (observation.evidence === "push" && observation.kind !== "metadata") {
          reconciler.notePush(observation);
        }
      },
      health() {
        const poll = reconciler.health();
        return {
          ok: poll.ok,
          working: reconciler.working,
          detail: poll.detail,
          figures: { last_poll_at: poll.last_poll_at, last_poll_error: poll.last_poll_error },
        };
      },
    };
  },
};
