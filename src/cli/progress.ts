/**
 * A progress line for long commands (`streamers add` of hundreds of slugs): done/total, rate and time left, on
 * stderr and only when stderr is a terminal, so pipes, logs and `--json` output never see it. Results are
 * printed on stdout as they are known; the line is cleared before each and drawn again after.
 */

const encoder = new TextEncoder();
/** Carriage return, then erase to the end of the line. */
const CLEAR_LINE = "\r\x1b[K";

/** The text of a progress line (pure): `120/200 (60%), 2.3/s, about 35 s left`. */
export function formatProgress(done: number, total: number, elapsedMs: number): string {
  const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
  const head = `${done}/${total} (${percent}%)`;
  if (done === 0 || elapsedMs <= 0) return `${head}, starting`;
  const rate = done / (elapsedMs / 1000);
  const leftSeconds = Math.ceil((total - done) / rate);
  const eta = done >= total ? "done" : `about ${formatSeconds(leftSeconds)} left`;
  return `${head}, ${rate.toFixed(1)}/s, ${eta}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
}

/** The progress line of one command run. */
export class ProgressLine {
  readonly #total: number;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #started = performance.now();
  #done = 0;
  #shown = false;

  constructor(
    label: string,
    total: number,
    options: { enabled?: boolean } = {},
  ) {
    this.#label = label;
    this.#total = total;
    this.#enabled = options.enabled ?? Deno.stderr.isTerminal();
  }

  /** Records progress and redraws the line. */
  update(done: number): void {
    this.#done = done;
    this.#draw();
  }

  /** Runs `print` (which writes to stdout) with the line out of the way, then draws it again. */
  around(print: () => void): void {
    this.clear();
    print();
    this.#draw();
  }

  /** Removes the line (at the end, or before an error message). */
  clear(): void {
    if (!this.#shown) return;
    Deno.stderr.writeSync(encoder.encode(CLEAR_LINE));
    this.#shown = false;
  }

  #draw(): void {
    if (!this.#enabled || this.#total <= 1) return;
    const text = formatProgress(this.#done, this.#total, performance.now() - this.#started);
    Deno.stderr.writeSync(encoder.encode(`${CLEAR_LINE}${this.#label} ${text}`));
    this.#shown = true;
  }
}
