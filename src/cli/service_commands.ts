/** `service start | stop | status` and `check`. */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { requireUsableDataDir } from "../config_usability.ts";
import { Monitor, STATUS_FILE } from "../monitor/monitor.ts";
import { Pipeline } from "../monitor/pipeline.ts";
import { PollSource } from "../monitor/sources/poll_source.ts";
import { type HttpServer, startHttpServer } from "../http/server.ts";
import { lockHolder, tryLockFile } from "../lib/file_lock.ts";
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError, ExitCode, UnavailableError, UserFacingError } from "../lib/errors.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import { log } from "../lib/log.ts";
import type { MonitorLock } from "../store/store.ts";
import { parseDatabaseUrl } from "../store/database_url.ts";
import { AnsweredExit, type CommandContext, printJson, printLines } from "./context.ts";
import { parseIntegerArgument } from "./arguments.ts";
import { ProgressLine } from "./progress.ts";
import {
  createKickClients,
  createLegacyLookup,
  MONITOR_LOCK_FILE,
  openConfiguredStore,
  type OpenedStore,
  withStore,
} from "../resources.ts";

export function registerServiceCommands(program: Command, context: () => CommandContext): void {
  const service = program.command("service").description(
    "run, stop and inspect the monitor daemon",
  );

  service.command("start")
    .description("run the monitor in the foreground until SIGTERM/SIGINT")
    .action(async () => {
      await runService(context().config());
    });

  service.command("stop")
    .description("ask a running monitor to stop gracefully, and wait for it")
    .option("--timeout <seconds>", "how long to wait", "30")
    .action(async (options) => {
      // Checked first: NaN here would make the wait below endless.
      const timeoutSeconds = parseIntegerArgument("--timeout", options.timeout, 1, 86_400);
      const config = context().config();
      const lockPath = join(config.dataDir, MONITOR_LOCK_FILE);
      const pid = await lockHolder(lockPath);
      if (pid === null) return printLines(`No monitor is running on ${config.dataDir}.`);
      if (pid < 0) {
        throw new UserFacingError(`A monitor holds ${lockPath} but its pid is unreadable`);
      }
      Deno.kill(pid, "SIGTERM");
      const deadline = Date.now() + timeoutSeconds * 1000;
      while ((await lockHolder(lockPath)) !== null) {
        if (Date.now() > deadline) {
          throw new UserFacingError(
            `The monitor (pid ${pid}) did not stop within ${timeoutSeconds} s`,
          );
        }
        await sleep(100);
      }
      printLines(`Monitor (pid ${pid}) stopped.`);
    });

  service.command("status")
    .description(
      "is a monitor running, connected, how fresh is its data; exit 0 when one runs, 3 when none " +
        "does (LSB), with the report printed either way",
    )
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const config = context().config();
      const pid = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
      let details: Record<string, unknown> | null = null;
      if (pid !== null) {
        try {
          details = JSON.parse(await Deno.readTextFile(join(config.dataDir, STATUS_FILE)));
        } catch {
          details = null;
        }
      }
      const report = {
        running: pid !== null,
        pid: pid !== null && pid > 0 ? pid : null,
        ...details,
      };
      const notRunning = new AnsweredExit("No monitor is running", ExitCode.notRunning);
      if (options.json) {
        printJson(report);
        if (!report.running) throw notRunning;
        return;
      }
      if (!report.running) {
        printLines(`Not running (data dir ${config.dataDir}).`);
        throw notRunning;
      }
      const d = (details ?? {}) as Record<string, unknown>;
      printLines(
        `Running:             yes (pid ${report.pid})`,
        `Streamers:           ${d.streamers ?? "?"}${coverageLine(d.coverage)}`,
        `Sockets connected:   ${d.sockets_connected ?? "?"} of ${d.sockets_total ?? "?"}`,
        `Subscribed channels: ${d.subscribed_channels ?? "?"}`,
        `Last event:          ${d.last_event_at ?? "none yet"}`,
        `Last poll:           ${d.last_poll_at ?? "none yet"}${
          d.last_poll_error
            ? ` (last attempt failed: ${escapeForTerminal(String(d.last_poll_error))})`
            : ""
        }`,
        `Journal backlog:     ${d.journal_backlog ?? "?"}`,
        `Database:            ${
          d.database_error
            ? `OUTAGE: ${
              escapeForTerminal(String(d.database_error))
            } (transitions wait in the journal and are written when it is back)`
            : "ok"
        }`,
      );
    });

  program.command("check")
    .description(
      "one reconciliation pass against the official API, then exit (cron); a long list is checked " +
        "and recorded in chunks, with progress on a terminal, and Ctrl-C keeps what was recorded " +
        "(exit 130)",
    )
    .option("--json", "print one JSON document")
    .action(async (options) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort(new Error("interrupted"));
      Deno.addSignalListener("SIGINT", onSignal);
      let report: CheckReport;
      try {
        report = await runCheck(context().config(), {
          signal: stop.signal,
          // Text output says what changed as each chunk is known; --json answers once, at the end.
          onTransitions: options.json ? undefined : (transitions) => {
            if (transitions.length === 0) return;
            printLines(...transitions.map((t) => `  ${t.slug} went ${t.type} at ${t.occurred_at}`));
          },
        });
      } finally {
        Deno.removeSignalListener("SIGINT", onSignal);
      }
      if (report.interrupted) {
        throw new UserFacingError(
          `Interrupted: checked ${report.checked} of ${report.total} streamer(s)${
            report.monitor_running ? "" : `, recorded ${report.transitions.length} transition(s)`
          }; the rest were not checked`,
          ExitCode.interrupted,
        );
      }
      if (options.json) {
        const { interrupted: _interrupted, total: _total, ...document } = report;
        return printJson(document);
      }
      printLines(
        `Checked ${report.checked} streamer(s): ${report.online} online, ${report.offline} offline.`,
        ...report.not_found.map((slug) => `  ${slug}: Kick does not know this channel any more`),
        report.monitor_running
          ? "A monitor is running: it records transitions itself, so this pass wrote nothing."
          : `Recorded ${report.transitions.length} transition(s).`,
      );
    });
}

/** " (N on Pusher and the poll, M on the poll only)" from the status file's coverage, or nothing. */
function coverageLine(coverage: unknown): string {
  if (typeof coverage !== "object" || coverage === null) return "";
  const { pusher, poll_only: pollOnly } = coverage as { pusher?: unknown; poll_only?: unknown };
  if (typeof pusher !== "number" || typeof pollOnly !== "number") return "";
  return ` (${pusher} on Pusher and the poll, ${pollOnly} on the poll only)`;
}

/** How often the daemon makes sure it still holds the one-monitor-per-database lock. */
const LOCK_CHECK_INTERVAL_MS = 5_000;

/**
 * The daemon: runs until SIGTERM/SIGINT, then stops sources, flushes and exits 0. Signals are obeyed from the
 * first moment, also while it waits for the database, and /healthz answers (503, with the reason) meanwhile.
 */
async function runService(config: Config): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) {
      // A second signal: the operator will not wait for the graceful stop. Nothing journaled is lost (the
      // journal is fsync'd before the database write; a restart replays it), as after a SIGKILL.
      log.warn("second signal received; exiting now");
      Deno.exit(ExitCode.failure);
    }
    log.info("signal received; stopping");
    stop.abort();
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    await runServiceUntil(config, stop);
  } finally {
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

async function runServiceUntil(config: Config, stop: AbortController): Promise<void> {
  const kick = createKickClients(config);
  await requireUsableDataDir(config.dataDir);
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const lockPath = join(config.dataDir, MONITOR_LOCK_FILE);
  const dirLock = await tryLockFile(lockPath);
  if (dirLock === null) {
    const pid = await lockHolder(lockPath);
    throw new UserFacingError(
      `A monitor is already running on data directory ${config.dataDir}${
        pid ? ` (pid ${pid})` : ""
      }`,
    );
  }
  const stopped = new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    stop.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const database = describeDatabase(config);
  // Until the monitor runs, /healthz says what the daemon waits for.
  const starting: { waitingFor: string; monitor: Monitor | null } = {
    waitingFor: "opening the database",
    monitor: null,
  };
  let opened: OpenedStore | null = null;
  let http: HttpServer | null = null;
  let lockGuard: ReturnType<typeof setInterval> | undefined;
  try {
    http = config.http
      ? startHttpServer(config.http, {
        health: async () => {
          if (starting.monitor === null) {
            return {
              healthy: false,
              state: "starting",
              database: starting.waitingFor,
              ...database,
            };
          }
          return { ...await starting.monitor.health(), ...database };
        },
        metrics: () => starting.monitor?.metrics.render() ?? "",
      })
      : null;
    opened = await openStoreWithRetry(config, stop.signal, (reason) => {
      starting.waitingFor = reason;
    });
    if (opened === null) return;
    starting.waitingFor = "starting the monitor";
    let shardLock = await opened.store.tryAcquireMonitorLock();
    if (shardLock === null) {
      throw new UserFacingError(
        "Another monitor is already running against this database; run one monitor per database",
      );
    }
    const store = opened.store;
    let tookOver = false;
    // The database lock lives on one connection; an outage drops it silently. Take it back when the database
    // returns, or stop if another monitor took it meanwhile (two monitors would race on one history).
    let checking = false;
    lockGuard = setInterval(async () => {
      if (checking || stop.signal.aborted || shardLock === null) return;
      checking = true;
      try {
        await guardLock(shardLock);
      } finally {
        checking = false;
      }
    }, LOCK_CHECK_INTERVAL_MS);
    const guardLock = async (lock: MonitorLock) => {
      if ((await lock.check()) !== "lost") return;
      await lock.release();
      const again = await store.tryAcquireMonitorLock().catch(() => undefined);
      if (again === undefined) return; // unreachable again; the next round retries
      shardLock = again;
      if (again !== null) {
        log.warn("the database dropped the monitor lock with its connection; took it back");
        return;
      }
      tookOver = true;
      log.error("another monitor took this database over while it was unreachable; stopping");
      stop.abort();
    };
    const monitor = await Monitor.create({
      config,
      store: opened.store,
      api: kick.api,
      legacy: createLegacyLookup(config),
    });
    starting.monitor = monitor;
    log.info("monitor starting", { pid: Deno.pid, dataDir: config.dataDir });
    // A signal during the start-up reconciliation stops it (monitor.stop aborts the pass).
    await Promise.race([monitor.start(), stopped]);
    await stopped;
    clearInterval(lockGuard);
    await monitor.stop();
    await shardLock?.release();
    log.info("monitor stopped");
    if (tookOver) {
      throw new UserFacingError(
        "Another monitor took this database over while it was unreachable; this one stopped",
      );
    }
  } finally {
    clearInterval(lockGuard);
    await http?.close();
    await opened?.close();
    dirLock.release();
  }
}

/** Which database /healthz reports: its address and name, never its user or password. */
function describeDatabase(config: Config): Record<string, string> {
  if (!config.databaseUrl) {
    return { database_backend: "embedded", database_location: join(config.dataDir, "pgdata") };
  }
  try {
    const target = parseDatabaseUrl(config.databaseUrl);
    return {
      database_backend: "postgres",
      database_location: target.address,
      database_name: target.database,
    };
  } catch {
    return { database_backend: "postgres" };
  }
}

/**
 * The daemon waits for its database rather than exiting, so a restart order never matters: attempts spaced by
 * the one backoff (src/lib/backoff.ts), each abandoned at once when a signal arrives. Null when stopped.
 */
async function openStoreWithRetry(
  config: Config,
  signal: AbortSignal,
  onWaiting: (reason: string) => void,
): Promise<OpenedStore | null> {
  const aborted = new Promise<null>((resolve) => {
    if (signal.aborted) resolve(null);
    signal.addEventListener("abort", () => resolve(null), { once: true });
  });
  for (let attempt = 0; !signal.aborted; attempt++) {
    const opening = openConfiguredStore(config);
    try {
      const opened = await Promise.race([opening, aborted]);
      if (opened !== null) return opened;
      // Stopped mid-attempt: close whatever the attempt still opens.
      opening.then((late) => late.close(), () => {});
      return null;
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
      const delay = backoffDelay(attempt, { baseMs: 1_000, capMs: 30_000 });
      onWaiting(`waiting for the database: ${describeError(error)}`);
      log.warn("database unreachable; retrying", { error: describeError(error), retryInMs: delay });
      await sleep(delay, signal).catch(() => {});
    }
  }
  return null;
}

/** How long `check` waits before asking again about streamers whose answer contradicted their status. */
const CHECK_CONFIRM_DELAY_MS = 3_000;

interface CheckTransition {
  slug: string;
  type: string;
  occurred_at: string;
  baseline: boolean;
}

interface CheckReport {
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
async function runCheck(
  config: Config,
  options: { signal?: AbortSignal; onTransitions?: (transitions: CheckTransition[]) => void } = {},
): Promise<CheckReport> {
  const kick = createKickClients(config);
  return await withStore(config, async (store) => {
    const streamers = await store.listStreamers();
    const lock = await store.tryAcquireMonitorLock();
    const dirHolder = await lockHolder(join(config.dataDir, MONITOR_LOCK_FILE));
    const monitorRunning = lock === null || dirHolder !== null;
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
    const progress = new ProgressLine("check:", streamers.length);
    try {
      const pipeline = new Pipeline({ offlineGraceMs: 0 });
      pipeline.sync(streamers);
      const poll = new PollSource({ api: kick.api });
      progress.update(0);
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
        progress.around(() => options.onTransitions?.(described));
        progress.update(Math.min(start + chunk.length, streamers.length));
      }
      return report;
    } finally {
      progress.clear();
      await lock?.release();
    }
  });
}
