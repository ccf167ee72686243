/**
 * The shape of the status file (`monitor-status.json` in the data directory) the monitor writes while it runs
 * and `service status` reads.
 */

/** What `service status` shows, written to the data directory while the monitor runs. */
export interface MonitorStatus {
  pid: number;
  started_at: string;
  updated_at: string;
  streamers: number;
  sockets_connected: number;
  sockets_total: number;
  subscribed_channels: number;
  last_event_at: string | null;
  last_poll_at: string | null;
  last_poll_error: string | null;
  journal_backlog: number;
  database_error: string | null;
  /** Streamers by how they are watched: `pusher` (a channel id to subscribe) or `poll_only`. */
  coverage: { pusher: number; poll_only: number };
  /** This monitor's KICK_MONITOR_INSTANCE, and whether it runs the leader duties. */
  instance: string;
  leader: boolean;
  /** The live monitors of the database (interface.md: `instances`), as of this monitor's last heartbeat. */
  instances: { id: string; streamers: number; last_seen_at: string }[];
  /** Each source's health, by name. */
  sources: Record<string, { ok: boolean; working: boolean; detail: string }>;
}
