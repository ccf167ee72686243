/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
 * format. Small on purpose: the daemon exports a dozen series, and a dependency would cost more than this.
 */

/** Label names to values, e.g. `{ coverage: "poll_only" }`. */
export type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",");
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** What the registry holds: anything that renders itself in the text exposition format. */
export interface Metric {
  /** Its `# HELP`, `# TYPE` and sample lines. */
  render(): string;
}

/** A total that only grows, per label set. */
export class Counter implements Metric {
  #values = new Map<string, number>();
  /** A counter named `name` (Prometheus rules), described by `help`. */
  constructor(readonly name: string, readonly help: string) {}
  /** Adds `by` (default 1) to the series of `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  /** The current total of the series of `labels`. */
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  /** Its lines in the text exposition format. */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.#values) {
      lines.push(`${this.name}${key ? `{${key}}` : ""} ${value}`);
    }
    return lines.join("\n");
  }
}

/** What a gauge reads when scraped: one value, or one value per label set. */
export type GaugeReading = number | [Labels, number][];

/** A value read when scraped; `type` is "counter" for totals kept elsewhere (e.g. socket reconnects). */
export class Gauge implements Metric {
  #read: () => GaugeReading;
  /** A gauge named `name`, described by `help`, whose value `read` returns at every scrape. */
  constructor(
    readonly name: string,
    readonly help: string,
    read: () => GaugeReading,
    readonly type: "gauge" | "counter" = "gauge",
  ) {
    this.#read = read;
  }
  /** Its lines in the text exposition format, read now. */
  render(): string {
    const reading = this.#read();
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (typeof reading === "number") lines.push(`${this.name} ${reading}`);
    else {
      for (const [labels, value] of reading) {
        const key = labelKey(labels);
        lines.push(`${this.name}${key ? `{${key}}` : ""} ${value}`);
      }
    }
    return lines.join("\n");
  }
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram implements Metric {
  #counts: number[];
  #sum = 0;
  #count = 0;
  /** A histogram named `name`, described by `help`, with these upper bounds (ascending). */
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.#counts = new Array(buckets.length).fill(0);
  }
  /** Counts one observation. */
  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) this.#counts[i]++;
  }
  /** Observations so far. */
  get count(): number {
    return this.#count;
  }
  /** Its lines in the text exposition format. */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((bound, i) =>
      lines.push(`${this.name}_bucket{le="${bound}"} ${this.#counts[i]}`)
    );
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines.join("\n");
  }
}

/** The daemon's metrics, rendered together for `/metrics`. */
export class Registry {
  #metrics: Metric[] = [];
  /** Registers and returns a new counter. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  /** Registers and returns a new gauge, read at every scrape. */
  gauge(
    name: string,
    help: string,
    read: () => GaugeReading,
    type: "gauge" | "counter" = "gauge",
  ): Gauge {
    return this.#add(new Gauge(name, help, read, type));
  }
  /** Registers and returns a new histogram. */
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }
  /** The Prometheus text format of every metric. */
  render(): string {
    return this.#metrics.map((m) => m.render()).join("\n") + "\n";
  }
  #add<T extends Metric>(metric: T): T {
    this.#metrics.push(metric);
    return metric;
  }
}
