/**
 * Shared pieces of the benchmarks: the result row every benchmark returns, a throwaway PostgreSQL database per
 * benchmark, CPU and memory readings of a process, and small statistics.
 */
import postgres from "postgres";

/** One line of the results table. */
export interface Figure {
  /** Which benchmark (1–6 of issue 2) and what it measures. */
  benchmark: string;
  figure: string;
  unit: string;
  ours: number;
  /** The peer's value (pusher-js, the per-row writer, the rate-limit floor), or null when there is none. */
  peer: number | null;
  /** ours / peer, or null without a peer. */
  ratio: number | null;
  /** The target, in words (`≥ 1.5× pusher-js`, `≤ 25 ms`). */
  target: string;
  pass: boolean | null;
  note?: string;
}

/** The PostgreSQL server benchmarks create their databases on. */
export function adminUrl(): string {
  return Deno.env.get("BENCH_DATABASE_URL") ?? Deno.env.get("TEST_DATABASE_URL") ??
    "postgres://postgres@127.0.0.1:5432/test";
}

/** A fresh database for one benchmark; `drop()` removes it (terminating leftover sessions). */
export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates `kick_bench_{name}_{random}` on the admin server. */
export async function createBenchDatabase(name: string): Promise<BenchDatabase> {
  const dbName = `kick_bench_${name}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${dbName}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(adminUrl());
  url.pathname = `/${dbName}`;
  return {
    url: url.toString(),
    async drop(): Promise<void> {
      const sql = postgres(adminUrl(), { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = 100;

/** User + system CPU seconds a process has used, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name may contain spaces: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the full line: 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The share of one core a process uses over the next `seconds` (from /proc/<pid>/stat). */
export async function cpuShareOver(pid: number, seconds: number): Promise<number> {
  const before = processCpuSeconds(pid);
  const start = performance.now();
  await delay(seconds * 1000);
  return (processCpuSeconds(pid) - before) / ((performance.now() - start) / 1000);
}

/** Resident set size of a process in bytes, from /proc/<pid>/status. */
export function processRssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The value at quantile `q` (0–1) of already sorted numbers (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every `everyMs` until it holds; throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; everyMs?: number },
): Promise<void> {
  const start = performance.now();
  while (!(await predicate())) {
    if (performance.now() - start > options.timeoutMs) {
      throw new Error(`Timed out after ${options.timeoutMs} ms waiting for ${what}`);
    }
    await delay(options.everyMs ?? 10);
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** The event every Pusher burst frame carries (Kick's go-live event). */
export const BURST_EVENT = "App\\Events\\StreamerIsLive";
