/**
 * A first-come, first-served async mutex: whoever asked first gets it next, so no waiter starves. The
 * embedded database's one session is shared with it between the daemon's own queries and the commands that
 * reach it through the daemon's socket (src/store/embedded_server.ts).
 *
 * @example
 * ```ts
 * const mutex = new Mutex();
 * await mutex.run(async () => {
 *   // nobody else holds it here
 * });
 * ```
 */
export class Mutex {
  #held = false;
  readonly #waiters: (() => void)[] = [];

  /** Whether someone holds it now. */
  get held(): boolean {
    return this.#held;
  }

  /** Waits for the mutex and returns the function that releases it (calling it again does nothing). */
  async acquire(): Promise<() => void> {
    if (this.#held) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    // The releaser hands the mutex straight to the next waiter, so `held` stays true in between.
    this.#held = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next === undefined) this.#held = false;
      else next();
    };
  }

  /** Runs `fn` holding the mutex; releases it however `fn` ends. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
