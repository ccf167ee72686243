/**
 * The metrics sink: counts committed transitions by type and source, and times each from its arrival to its
 * commit (kick_monitor_event_to_commit_seconds, the latency the benchmarks hold us to).
 */
import type { Sink, SinkContext, SinkFactory } from "../monitor/contracts.ts";

/** The metrics sink's factory (registered in ./mod.ts). */
export const metricsSink: SinkFactory = {
  name: "metrics",
  create(context: SinkContext): Sink {
    const m = context.metrics;
    const events = m.counter(
      "kick_monitor_events_total",
      "Committed transitions by type and source (a baseline is a streamer's first status)",
    );
    const latency = m.histogram(
      "kick_monitor_event_to_commit_seconds",
      "Time from receiving an event to its transition being committed in the database",
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    );
    return {
      name: "metrics",
      committed(transitions, committedAt) {
        for (const t of transitions) {
          events.inc({ type: t.type, source: t.baseline ? "baseline" : t.source });
          if (!t.baseline) latency.observe((committedAt - t.receivedAt.getTime()) / 1000);
        }
      },
    };
  },
};
