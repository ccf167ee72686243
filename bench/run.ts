/**
 * `deno task bench`: every benchmark of issue 2, one table on stdout, the same as JSON in
 * bench/results/latest.json (and a timestamped copy). Each benchmark makes its own PostgreSQL database
 * (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test) and drops it.
 *
 *   deno task bench                 all, ~3 minutes (latency: 10 s per backend)
 *   deno task bench --full          latency for 30 s per backend
 *   deno task bench --only=1,3      a subset, by number (latest.json keeps the others' last figures)
 *   deno task bench --only=9        several monitors: 100,000 streamers over 4 (BENCH_INSTANCES_STREAMERS)
 */
import { parseArgs } from "node:util";
import { configureLogging } from "../src/lib/log.ts";
import type { Figure } from "./lib.ts";
import { runPusher } from "./pusher.ts";
import { runIngest } from "./ingest.ts";
import { runScale } from "./scale.ts";
import { runReconcile } from "./reconcile.ts";
import { runStartup } from "./startup.ts";
import { runNotifications } from "./notifications.ts";
import { runStatusPage } from "./status_page.ts";
import { runInstances } from "./instances.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { full: { type: "boolean", default: false }, only: { type: "string" } },
});
const only = values.only ? new Set(values.only.split(",").map((n) => n.trim())) : null;
const wanted = (n: string) => only === null || only.has(n);

configureLogging({ level: "warn" });
const figures: Figure[] = [];
const timings: Record<string, number> = {};
const started = performance.now();

async function step(name: string, run: () => Promise<Figure[]>): Promise<void> {
  const t = performance.now();
  console.error(`running ${name}…`);
  try {
    figures.push(...await run());
  } catch (error) {
    console.error(`${name} failed:`, error);
    figures.push({
      benchmark: name,
      figure: "(failed)",
      unit: "",
      ours: NaN,
      peer: null,
      ratio: null,
      target: "",
      pass: false,
      note: String(error instanceof Error ? error.message : error).slice(0, 200),
    });
  }
  timings[name] = Math.round((performance.now() - t) / 100) / 10;
}

/** Benchmark 2 in a fresh `deno run` of bench/latency.ts; its figures come back through a file. */
async function runLatencyAlone(seconds: number): Promise<Figure[]> {
  const out = await Deno.makeTempFile({ prefix: "kick-bench-latency-", suffix: ".json" });
  try {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./latency.ts", import.meta.url).pathname,
        `--seconds=${seconds}`,
        `--out=${out}`,
      ],
      stdout: "null",
      stderr: "inherit",
    }).output();
    if (code !== 0) throw new Error(`bench/latency.ts exited with ${code}`);
    return JSON.parse(await Deno.readTextFile(out)) as Figure[];
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

if (wanted("1")) await step("1 pusher", () => runPusher());
if (wanted("3")) await step("3 ingest", () => runIngest());
if (wanted("6")) await step("6 startup", () => runStartup());
// Benchmark 5 is bound by the 10 requests/s limit (a 40 s floor) and uses almost no CPU, so it runs alongside
// benchmark 4, whose own figures come from the daemon's process and its own fakes.
const parallel: Promise<void>[] = [];
if (wanted("5")) parallel.push(step("5 reconciliation", () => runReconcile()));
if (wanted("4")) parallel.push(step("4 scale", () => runScale()));
await Promise.all(parallel);
// In a process of its own: its figure is the monitor's event loop and heap, which must not carry what the
// benchmarks before it left in this process (benchmark 3's 100,000 transitions, 5's 10,000 streamers).
if (wanted("2")) await step("2 latency", () => runLatencyAlone(values.full ? 30 : 10));
if (wanted("7")) await step("7 notifications", () => runNotifications());
if (wanted("8")) await step("8 status page", () => runStatusPage());
// Four daemons at once: alone, so the others' figures are not taken under its load.
if (wanted("9")) await step("9 instances", () => runInstances());

// Same order as the issue.
figures.sort((a, b) => a.benchmark.localeCompare(b.benchmark, "en", { numeric: true }));
const totalSeconds = Math.round((performance.now() - started) / 100) / 10;

function show(value: number | null): string {
  if (value === null) return "—";
  if (Number.isNaN(value)) return "n/a";
  return value.toLocaleString("en");
}

const header = ["benchmark", "figure", "ours", "peer", "ratio", "target", "result"];
const lines = figures.map((f) => [
  f.benchmark,
  f.figure,
  `${show(f.ours)} ${f.unit}`,
  f.peer === null ? "—" : `${show(f.peer)} ${f.unit}`,
  f.ratio === null ? "—" : `${f.ratio}×`,
  f.target,
  f.pass === null ? "info" : f.pass ? "PASS" : "FAIL",
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(row(header));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const line of lines) console.log(row(line));
const notes = figures.filter((f) => f.note);
if (notes.length > 0) {
  console.log("");
  for (const f of notes) console.log(`- ${f.benchmark} / ${f.figure}: ${f.note}`);
}
console.log(`\ntotal ${totalSeconds} s (${JSON.stringify(timings)})`);

const cpuModel = /model name\s*:\s*(.*)/.exec(
  await Deno.readTextFile("/proc/cpuinfo").catch(() => ""),
)?.[1] ?? "unknown";
const memTotal = /MemTotal:\s+(\d+) kB/.exec(
  await Deno.readTextFile("/proc/meminfo").catch(() => ""),
)?.[1];
const result = {
  date: new Date().toISOString(),
  machine: {
    cpus: navigator.hardwareConcurrency,
    cpuModel,
    memoryGiB: memTotal ? Math.round(Number(memTotal) / 1024 / 1024 * 10) / 10 : null,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  },
  full: values.full,
  totalSeconds,
  timings,
  figures,
};
const dir = new URL("./results/", import.meta.url);
await Deno.mkdir(dir, { recursive: true });
// A subset (--only) keeps the other benchmarks' figures of the last run, so latest.json stays the whole table.
if (only !== null) {
  try {
    const previous = JSON.parse(await Deno.readTextFile(new URL("latest.json", dir)));
    const kept = (previous.figures as Figure[]).filter((f) =>
      !only.has(/^\d+/.exec(f.benchmark)?.[0] ?? "")
    );
    Object.assign(result, {
      figures: [...kept, ...figures].sort((a, b) =>
        a.benchmark.localeCompare(b.benchmark, "en", { numeric: true })
      ),
      kept: { from: previous.date, benchmarks: [...new Set(kept.map((f) => f.benchmark))] },
    });
  } catch {
    // No earlier results: this subset is the whole file.
  }
}
const json = JSON.stringify(result, null, 2) + "\n";
await Deno.writeTextFile(new URL("latest.json", dir), json);
await Deno.writeTextFile(new URL(`${result.date.replaceAll(":", "-")}.json`, dir), json);
console.log(`written to bench/results/latest.json`);
