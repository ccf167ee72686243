/**
 * The shape of the status file (`monitor-status.json` in the data directory) the monitor writes while it runs
 * and `service status` reads.
 */
import { join } from "node:path";
import { log } from "../lib/log.ts";
import type { Source } from "./contracts.ts";

/** The status file in the data directory that `service status` reads. */
export const STATUS_FILE = "monitor-status.json";

/** Replaces the status file in `dataDir` atomically (a reader never sees half a file); failures are logged. */
export async function writeStatusFile(dataDir: string, status: MonitorStatus): Promise<void> {
  const path = join(dataDir, STATUS_FILE);
  const temporary = `${path}.tmp`;
  try {
    await Deno.writeTextFile(temporary, JSON.stringify(status), { mode: 0o600 });
    await Deno.rename(temporary, path);
  } catch (error) {
    log.debug("could not write the status file", { error });
  }
}

/** What `service status` shows, written to the data directory while the monitor runs. */
export interface MonitorStatus {
  /** The daemon's process id. */
  pid: number;
  /** When it started (ISO 8601). */
  started_at: string;
  /** When this file was written. */
  updated_at: string;
  /** Streamers this monitor watches (its share). */
  streamers: number;
  /** Pusher sockets connected. */
  sockets_connected: number;
  /** Pusher sockets in all. */
  sockets_total: number;
  /** Pusher channels subscribed. */
  subscribed_channels: number;
  /** The last push observation. */
  last_event_at: string | null;
  /** The last successful poll pass. */
  last_poll_at: string | null;
  /** Why the last poll pass failed, if it did. */
  last_poll_error: string | null;
  /** Transitions not yet committed. */
  journal_backlog: number;
  /** The last database write error, while writes fail. */
  database_error: string | null;
  /** Streamers by how they are watched: `pusher` (a channel id to subscribe) or `poll_only`. */
  coverage: { pusher: number; poll_only: number };
  /** This monitor's KICK_MONITOR_INSTANCE. */
  instance: string;
  /** Whether it runs the duties that must run once per database (issue 16). */
  leader: boolean;
  /** The live monitors of the database (interface.md: `instances`), as of this monitor's last heartbeat. */
  instances: { id: string; streamers: number; last_seen_at: string }[];
  /** Each source's health, by name. */
  sources: Record<string, { ok: boolean; working: boolean; detail: string }>;
}

/**
 * The sources' part of the status: each one's health, and the figures their health reports (sockets, subscribed
 * channels, the last poll), read by key; a figure no source reports is 0 (numbers) or null (text).
 */
export function sourceFigures(sources: readonly Source[]): {
  sources: MonitorStatus["sources"];
  number: (key: string) => number;
  text: (key: string) => string | null;
} {
  const health: MonitorStatus["sources"] = {};
  let figures: Record<string, unknown> = {};
  for (const source of sources) {
    const h = source.health();
    health[source.name] = { ok: h.ok, working: h.working, detail: h.detail };
    figures = { ...figures, ...h.figures };
  }
  return {
    sources: health,
    number: (key) => typeof figures[key] === "number" ? figures[key] as number : 0,
    text: (key) => typeof figures[key] === "string" ? figures[key] as string : null,
  };
}
