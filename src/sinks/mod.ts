/**
 * The sinks the daemon feeds with committed transitions (contracts.ts). A new sink is one file exporting a
 * SinkFactory, plus one line here.
 */
import type { SinkFactory } from "../monitor/contracts.ts";
import { metricsSink } from "./metrics_sink.ts";
import { notificationsSink } from "./notifications_sink.ts";

/** Every sink, in the order the monitor creates and feeds them. */
export const SINKS: readonly SinkFactory[] = [
  metricsSink,
  notificationsSink,
];
