/**
 * The client's half of Pusher's keepalive for one socket (protocol §3): after a period of silence send
 * `pusher:ping`; when no frame at all follows within the pong timeout, the connection is dead. Any frame proves
 * the connection alive, so the connection reports every frame with `touch`.
 *
 * One timer checks the time of the last frame instead of being reset by every frame: no timer churn per event.
 *
 * @example
 * ```ts
 * const keepalive = new Keepalive({ pongTimeoutMs: 30_000, ping: () => ws.send(encodePing()), onDead });
 * ws.onmessage = () => keepalive.touch(Date.now());
 * keepalive.start(120_000); // after the handshake; keepalive.stop() when the socket ends
 * ```
 */

/** Options of {@link Keepalive}. */
export interface KeepaliveOptions {
  /** How long to wait for any frame after our ping. */
  pongTimeoutMs: number;
  /** Sends `pusher:ping`. */
  ping(): void;
  /** No frame arrived within `pongTimeoutMs` of a ping; `reason` says so, for the close report. */
  onDead(reason: string): void;
}

type Timer = ReturnType<typeof setTimeout>;

/** Pings after silence and declares the connection dead when the ping goes unanswered. */
export class Keepalive {
  #options: KeepaliveOptions;
  #activityMs = 0;
  #lastFrameAt = 0;
  #pingSentAt = 0;
  #activityTimer: Timer | undefined;
  #pongTimer: Timer | undefined;

  constructor(options: KeepaliveOptions) {
    this.#options = options;
  }

  /** Records that a frame arrived at `now` (`Date.now()`). Called for every frame: keep it cheap. */
  touch(now: number): void {
    this.#lastFrameAt = now;
  }

  /** Starts watching: a ping goes out after `activityMs` without a frame. */
  start(activityMs: number): void {
    this.stop();
    this.#activityMs = activityMs;
    this.#armActivity(activityMs);
  }

  /** Stops both timers (the socket ended). */
  stop(): void {
    clearTimeout(this.#activityTimer);
    clearTimeout(this.#pongTimer);
    this.#activityTimer = this.#pongTimer = undefined;
  }

  #armActivity(delayMs: number): void {
    this.#activityTimer = setTimeout(() => this.#onActivityTimer(), Math.max(0, delayMs));
  }

  #onActivityTimer(): void {
    this.#activityTimer = undefined;
    const idle = Date.now() - this.#lastFrameAt;
    if (idle < this.#activityMs) return this.#armActivity(this.#activityMs - idle);
    this.#pingSentAt = Date.now();
    this.#options.ping();
    this.#pongTimer = setTimeout(() => this.#onPongTimer(), this.#options.pongTimeoutMs);
  }

  #onPongTimer(): void {
    this.#pongTimer = undefined;
    if (this.#lastFrameAt >= this.#pingSentAt) {
      return this.#armActivity(this.#activityMs - (Date.now() - this.#lastFrameAt));
    }
    this.#options.onDead(`no pong within ${this.#options.pongTimeoutMs} ms of pusher:ping`);
  }
}
