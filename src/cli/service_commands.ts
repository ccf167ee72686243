/** `service start | stop | status` and `check`. */
import type { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { STATUS_FILE } from "../monitor/monitor_status.ts";
import { runDaemon } from "../monitor/daemon.ts";
import { type CheckReport, runCheck } from "../monitor/check.ts";
import { lockHolder } from "../lib/file_lock.ts";
import { sleep } from "../lib/backoff.ts";
import { ExitCode, UserFacingError } from "../lib/errors.ts";
import { escapeForTerminal } from "../lib/terminal.ts";
import { AnsweredExit, type CommandContext, printJson, printLines } from "./context.ts";
import { parseIntegerArgument } from "./arguments.ts";
import { ProgressLine } from "./progress.ts";
import { MONITOR_LOCK_FILE } from "../resources.ts";

export function registerServiceCommands(program: Command, context: () => CommandContext): void {
  const service = program.command("service").description(
    "run, stop and inspect the monitor daemon",
  );

  service.command("start")
    .description("run the monitor in the foreground until SIGTERM/SIGINT")
    .action(async () => {
      await runDaemon(context().config());
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
        ...instancesLine(d.instances),
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
      // Made when the pass knows how many streamers it checks; set from a callback, hence the holder.
      const progress: { line: ProgressLine | null } = { line: null };
      try {
        report = await runCheck(context().config(), {
          signal: stop.signal,
          onProgress: (done, total) => {
            progress.line ??= new ProgressLine("check:", total);
            progress.line.update(done);
          },
          // Text output says what changed as each chunk is known; --json answers once, at the end.
          onTransitions: options.json ? undefined : (transitions) => {
            if (transitions.length === 0) return;
            const lines = transitions.map((t) => `  ${t.slug} went ${t.type} at ${t.occurred_at}`);
            if (progress.line === null) printLines(...lines);
            else progress.line.around(() => printLines(...lines));
          },
        });
      } finally {
        progress.line?.clear();
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

/** "Monitors: a (500 streamers), b (500 streamers)" when several share the database (issue 16), or nothing. */
function instancesLine(instances: unknown): string[] {
  if (!Array.isArray(instances) || instances.length < 2) return [];
  const shares = instances.map((i: { id?: unknown; streamers?: unknown }) =>
    `${escapeForTerminal(String(i.id))} (${Number(i.streamers)} streamers)`
  );
  return [`Monitors:            ${shares.join(", ")}`];
}
