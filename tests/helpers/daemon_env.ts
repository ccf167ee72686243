/** The environment that points the real CLI at the simulated Kick and Pusher, for tests and the soak. */

export interface SimulatedKickEnvOptions {
  /** Base URL of the fake Kick (OAuth, official and legacy API alike). */
  kickUrl: string;
  pusherUrl: string;
  clientId: string;
  clientSecret: string;
  dataDir: string;
  httpPort: number;
  /** PostgreSQL URL; empty or absent selects the embedded database. */
  databaseUrl?: string;
}

/**
 * Variables for `main.ts` against the simulated services. The defaults suit tests: a poll interval long enough
 * that only the start and reconnect reconciliations run, no offline grace, a generous API rate, JSON logs.
 * `overrides` replaces any of them.
 */
export function simulatedKickEnv(
  options: SimulatedKickEnvOptions,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl ?? "",
    KICK_CLIENT_ID: options.clientId,
    KICK_CLIENT_SECRET: options.clientSecret,
    KICK_OAUTH_URL: options.kickUrl,
    KICK_API_URL: options.kickUrl,
    KICK_WEB_URL: options.kickUrl,
    KICK_PUSHER_URL: options.pusherUrl,
    KICK_MONITOR_DATA_DIR: options.dataDir,
    KICK_MONITOR_POLL_INTERVAL: "600",
    KICK_MONITOR_OFFLINE_GRACE: "0",
    KICK_MONITOR_HTTP: `127.0.0.1:${options.httpPort}`,
    KICK_API_RATE: "50",
    LOG_LEVEL: "info",
    LOG_FORMAT: "json",
    ...overrides,
  };
}
