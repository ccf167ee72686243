/**
 * Gives back the memory a burst of work grew the JavaScript heap to. V8 sizes its young generation to the
 * busiest moment it has seen and does not shrink it while the process is quiet: the start-up (10,000
 * streamers read, 20,000 channels subscribed, the reconciliation journaled and written) grew it to ~60 MB
 * that an idle daemon never used again, a third of its RSS (bench 4: new_space 58.8 MB physical, 11 MB
 * used). One memory-reducing collection after the burst shrinks it; later bursts grow it again as needed.
 *
 * V8 offers that collection only through its `gc` extension: `--expose-gc` set at run time (so it holds for
 * `deno run` and the compiled binary alike) installs it in contexts created afterwards, and a new `node:vm`
 * context hands it over. Nothing else sees the flag: the daemon's own context has no `gc`.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** The options of V8's `gc` extension (v8/src/extensions/gc-extension.cc). */
interface GcOptions {
  type: "major" | "minor";
  execution: "sync" | "async";
  /** "last-resort": collect everything, then release unused pages and shrink the young generation. */
  flavor: "regular" | "last-resort";
}

/**
 * Runs one memory-reducing full collection; false when this runtime does not offer one (nothing happens).
 *
 * @example
 * ```ts
 * import { releaseBurstHeap } from "./heap.ts";
 * await monitor.start(); // the start-up's burst
 * releaseBurstHeap();
 * ```
 */
export function releaseBurstHeap(): boolean {
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
    if (typeof gc !== "function") return false;
    (gc as (options: GcOptions) => void)({
      type: "major",
      execution: "sync",
      flavor: "last-resort",
    });
    return true;
  } catch {
    return false;
  }
}
