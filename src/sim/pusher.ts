/**
 * A fake Pusher server that behaves like real Pusher (not soketi) as described in
 * shared/reference/pusher-protocol.md ("protocol §N"), scriptable from tests and the demo. When given a FakeWorld it
 * publishes every change as Kick would: StreamerIsLive / StopStreamBroadcast on `channel.{id}` and `channel_{id}`
 * (kick-api.md §3.5).
 *
 * The WebSocket server is Deno.serve + Deno.upgradeWebSocket behind a small TCP relay on the public port. The relay
 * exists so `dropAll()` can cut connections the way a network failure does, with no close frame (a Deno server
 * WebSocket can only close politely), and so `refuseConnections()` can reset connections before any handshake.
 */
import type { FakeWorld, WorldChange } from "./world.ts";

/** Kick's app key (kick-api.md §3.1). */
export const KICK_APP_KEY = "32cbd69e4b950bf97679";

export interface FakePusherOptions {
  /** Ground truth whose changes are published as Kick events. */
  world?: FakeWorld;
  /** The only key accepted in `/app/{key}`; any other gets close code 4001. */
  appKey?: string;
  /** `activity_timeout` announced in the handshake, in seconds (real Pusher: 120; protocol §2.1). */
  activityTimeout?: number;
  /** Port to listen on (127.0.0.1); a free port when omitted. */
  port?: number;
  /** Which channel names world changes are published on (default both: kick-api.md §3.4). */
  publishOn?: ("dot" | "underscore")[];
  /** How many client frames `received` keeps (oldest dropped first; default 20,000). */
  receivedLimit?: number;
}

/** One frame a client sent, as the fake logged it. */
export interface ReceivedFrame {
  socketId: string;
  /** The frame's `event`, or null when it was not a JSON object with a string event. */
  event: string | null;
  text: string;
  at: number;
}

/** The handle tests and the demo script the fake through. */
export interface FakePusher {
  /** `ws://127.0.0.1:PORT/app/KEY?protocol=7&client=js&version=8.4.0&flash=false`, as Kick's clients connect. */
  readonly url: string;
  readonly port: number;
  readonly appKey: string;
  /** Client frames, oldest first, bounded by `receivedLimit`. */
  readonly received: ReceivedFrame[];
  /** Handshakes completed (`pusher:connection_established` sent), ever. */
  readonly connectCount: number;
  /** WebSocket upgrades accepted, ever, including those closed with an error code or left without a handshake. */
  readonly attemptCount: number;
  /** Sends `event` with `data` (JSON-encoded a second time unless already a string) to the channel's subscribers. */
  publish(channel: string, event: string, data: unknown): number;
  /** Sends `text` as it is to every connected socket (malformed frames, unusual forms). */
  publishRaw(text: string): number;
  /** Cuts every connection at the TCP level: clients see an abnormal closure (1006) with no close frame. */
  dropAll(): void;
  /** Closes every connection politely with a close frame carrying `code` and `reason`. */
  closeAll(code: number, reason?: string): void;
  /** While on, `pusher:ping` gets no `pusher:pong`. */
  withholdPongs(on: boolean): void;
  /** While on, upgrades succeed but `pusher:connection_established` is never sent. */
  withholdHandshake(on: boolean): void;
  /** While off, world changes are not published (a missed event during an outage). */
  setPublishing(on: boolean): void;
  /**
   * While on, this channel's world changes are never published: a channel whose deliveries Pusher loses
   * (kick-api.md §0.5), so only the official API sees it. The soak's `--poll-only` streamers use it.
   */
  mute(channelId: number, on?: boolean): void;
  /** While on, new TCP connections are closed at once, before any WebSocket handshake. */
  refuseConnections(on: boolean): void;
  /**
   * While set, new sockets are closed with this code and reason instead of getting `connection_established`, the
   * way real Pusher refuses an app over its connection quota (4004, protocol §2.1). `null` turns it off.
   */
  refuseHandshakes(close: { code: number; reason: string } | null): void;
  /** Sockets that completed the handshake and are still open. */
  connections(): number;
  /** Open sockets subscribed to `channel`. */
  subscribers(channel: string): number;
  /** Subscriptions over all open sockets. */
  totalSubscriptions(): number;
  /** Stops everything; open client connections are cut. */
  close(): Promise<void>;
}

interface FakeSocket {
  ws: WebSocket;
  socketId: string;
  established: boolean;
  channels: Set<string>;
  closed: Promise<void>;
}

interface Relay {
  client: Deno.Conn;
  upstream: Deno.Conn | null;
  done: boolean;
}

const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]{1,164}$/;

/** Starts a fake Pusher on 127.0.0.1. */
export function startFakePusher(options: FakePusherOptions = {}): Promise<FakePusher> {
  try {
    const fake = new FakePusherServer(options);
    fake.listen(options.port ?? 0);
    return Promise.resolve(fake);
  } catch (error) {
    return Promise.reject(error);
  }
}

class FakePusherServer implements FakePusher {
  readonly appKey: string;
  readonly received: ReceivedFrame[] = [];
  connectCount = 0;
  attemptCount = 0;
  port = 0;

  #activityTimeout: number;
  #publishOn: ("dot" | "underscore")[];
  #receivedLimit: number;
  #sockets = new Set<FakeSocket>();
  #byChannel = new Map<string, Set<FakeSocket>>();
  #relays = new Set<Relay>();
  #relayTasks = new Set<Promise<void>>();
  #withholdPongs = false;
  #withholdHandshake = false;
  #publishing = true;
  #muted = new Set<number>();
  #refusing = false;
  #refuseHandshakes: { code: number; reason: string } | null = null;
  #closed = false;
  #listener: Deno.TcpListener | null = null;
  #acceptLoop: Promise<void> | null = null;
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  #world: FakeWorld | null;
  #unsubscribeWorld: (() => void) | null = null;

  constructor(options: FakePusherOptions) {
    this.appKey = options.appKey ?? KICK_APP_KEY;
    this.#activityTimeout = options.activityTimeout ?? 120;
    this.#publishOn = options.publishOn ?? ["dot", "underscore"];
    this.#receivedLimit = options.receivedLimit ?? 20_000;
    this.#world = options.world ?? null;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/app/${this.appKey}?protocol=7&client=js&version=8.4.0&flash=false`;
  }

  listen(port: number): void {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.port = this.#listener.addr.port;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.#acceptLoop = this.#accept(this.#listener);
    this.#unsubscribeWorld = this.#world?.onChange((change) => this.#onWorldChange(change)) ?? null;
  }

  // ----- scripting -------------------------------------------------------------------------------------------

  publish(channel: string, event: string, data: unknown): number {
    const encoded = typeof data === "string" ? data : JSON.stringify(data);
    const text = JSON.stringify({ event, data: encoded, channel });
    const subscribers = this.#byChannel.get(channel);
    if (!subscribers) return 0;
    let sent = 0;
    for (const socket of subscribers) {
      if (send(socket, text)) sent++;
    }
    return sent;
  }

  publishRaw(text: string): number {
    let sent = 0;
    for (const socket of this.#sockets) {
      if (socket.established && send(socket, text)) sent++;
    }
    return sent;
  }

  dropAll(): void {
    for (const relay of this.#relays) closeRelay(relay);
  }

  closeAll(code: number, reason = ""): void {
    for (const socket of this.#sockets) closeSocket(socket, code, reason);
  }

  withholdPongs(on: boolean): void {
    this.#withholdPongs = on;
  }

  withholdHandshake(on: boolean): void {
    this.#withholdHandshake = on;
  }

  setPublishing(on: boolean): void {
    this.#publishing = on;
  }

  mute(channelId: number, on = true): void {
    if (on) this.#muted.add(channelId);
    else this.#muted.delete(channelId);
  }

  refuseConnections(on: boolean): void {
    this.#refusing = on;
  }

  refuseHandshakes(close: { code: number; reason: string } | null): void {
    this.#refuseHandshakes = close;
  }

  connections(): number {
    let count = 0;
    for (const socket of this.#sockets) if (socket.established) count++;
    return count;
  }

  subscribers(channel: string): number {
    return this.#byChannel.get(channel)?.size ?? 0;
  }

  totalSubscriptions(): number {
    let count = 0;
    for (const socket of this.#sockets) count += socket.channels.size;
    return count;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribeWorld?.();
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    await this.#acceptLoop;
    this.dropAll();
    await Promise.all(this.#relayTasks);
    // The relay is gone, so every server-side socket sees its peer vanish; wait for them to notice.
    const sockets = [...this.#sockets];
    const timer = setTimeout(() => {
      for (const socket of sockets) closeSocket(socket, 1001, "server closing");
    }, 2_000);
    await Promise.all(sockets.map((socket) => socket.closed));
    clearTimeout(timer);
    await this.#server?.shutdown();
  }

  // ----- TCP relay ---------------------------------------------------------------------------------------------

  async #accept(listener: Deno.TcpListener): Promise<void> {
    while (true) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch {
        return; // listener closed
      }
      if (this.#refusing || this.#closed) {
        closeQuietly(client);
        continue;
      }
      const relay: Relay = { client, upstream: null, done: false };
      this.#relays.add(relay);
      const task = this.#relay(relay).finally(() => {
        this.#relays.delete(relay);
        this.#relayTasks.delete(task);
      });
      this.#relayTasks.add(task);
    }
  }

  async #relay(relay: Relay): Promise<void> {
    try {
      relay.upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#server!.addr.port });
    } catch {
      closeRelay(relay);
      return;
    }
    if (relay.done) {
      closeQuietly(relay.upstream);
      return;
    }
    await Promise.all([
      pump(relay.client, relay.upstream, relay),
      pump(relay.upstream, relay.client, relay),
    ]);
  }

  // ----- WebSocket server --------------------------------------------------------------------------------------

  #handle(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Pusher WebSocket endpoint\n", { status: 426 });
    }
    const { socket: ws, response } = Deno.upgradeWebSocket(request);
    this.attemptCount++;
    const socket: FakeSocket = {
      ws,
      socketId: `${randomDigits()}.${randomDigits()}`,
      established: false,
      channels: new Set(),
      closed: new Promise((resolve) =>
        ws.addEventListener("close", () => resolve(), { once: true })
      ),
    };
    this.#sockets.add(socket);
    const refusal = this.#checkRequest(new URL(request.url)) ?? this.#refuseHandshakes;
    ws.onopen = () => {
      // Since protocol 6 a fatal error is only the close code and reason (protocol §2.1).
      if (refusal) return closeSocket(socket, refusal.code, refusal.reason);
      if (this.#withholdHandshake) return;
      socket.established = true;
      this.connectCount++;
      const data = JSON.stringify({
        socket_id: socket.socketId,
        activity_timeout: this.#activityTimeout,
      });
      send(socket, JSON.stringify({ event: "pusher:connection_established", data }));
    };
    ws.onmessage = (message) => this.#onClientFrame(socket, message.data);
    ws.onclose = () => this.#forget(socket);
    ws.onerror = () => {};
    return response;
  }

  /** The close code real Pusher would refuse this URL with, if any (protocol §1, §2.1 error codes). */
  #checkRequest(url: URL): { code: number; reason: string } | null {
    const path = /^\/app\/([^/]+)$/.exec(url.pathname);
    if (path === null) return { code: 4005, reason: "Path not found" };
    if (decodeURIComponent(path[1]) !== this.appKey) {
      return {
        code: 4001,
        reason: `App key ${path[1]} not in this cluster. Did you forget to specify the cluster?`,
      };
    }
    const protocol = url.searchParams.get("protocol");
    if (protocol === null) return { code: 4008, reason: "No protocol version supplied" };
    const version = Number(protocol);
    if (!Number.isInteger(version) || version < 4 || version > 7) {
      return { code: 4007, reason: "Unsupported protocol version" };
    }
    const clientVersion = url.searchParams.get("version");
    if (clientVersion !== null && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(clientVersion)) {
      return { code: 4006, reason: "Invalid version string format" };
    }
    return null;
  }

  #onClientFrame(socket: FakeSocket, raw: unknown): void {
    const text = typeof raw === "string" ? raw : "";
    let frame: Record<string, unknown> | null = null;
    try {
      const parsed = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) frame = parsed;
    } catch {
      // logged below with a null event
    }
    const event = frame && typeof frame.event === "string" ? frame.event : null;
    this.#log({ socketId: socket.socketId, event, text, at: Date.now() });
    if (!frame || event === null || !socket.established) return;

    const data = typeof frame.data === "object" && frame.data !== null
      ? frame.data as Record<string, unknown>
      : {};
    switch (event) {
      case "pusher:ping":
        if (!this.#withholdPongs) send(socket, '{"event":"pusher:pong","data":{}}');
        return;
      case "pusher:subscribe":
        return this.#subscribe(socket, data);
      case "pusher:unsubscribe":
        // No reply, as on real Pusher (protocol §2.2).
        if (typeof data.channel === "string") this.#unsubscribe(socket, data.channel);
        return;
      default:
        if (event.startsWith("client-")) {
          const channel = typeof frame.channel === "string" ? frame.channel : "";
          if (!channel.startsWith("private-") && !channel.startsWith("presence-")) {
            sendError(
              socket,
              "Client event rejected - only supported on private and presence channels",
            );
          }
        }
    }
  }

  #subscribe(socket: FakeSocket, data: Record<string, unknown>): void {
    const channel = data.channel;
    if (typeof channel !== "string" || !CHANNEL_NAME.test(channel)) {
      // Real Pusher's exact answer here is undocumented; an error with a null code is its subscription-refusal form.
      sendError(socket, `Invalid channel name ${JSON.stringify(channel ?? null)}`);
      return;
    }
    if (channel.startsWith("private-") || channel.startsWith("presence-")) {
      // The fake knows no app secret, so every signature is bad: real Pusher answers `pusher:error` with a null
      // code and names no channel (protocol §2.1, [ISSUE-SIG]).
      const auth = typeof data.auth === "string" ? data.auth : "";
      sendError(
        socket,
        `Invalid signature: Expected HMAC SHA256 hex digest of ${socket.socketId}:${channel}, but got ${auth}`,
      );
      return;
    }
    socket.channels.add(channel);
    let subscribers = this.#byChannel.get(channel);
    if (!subscribers) {
      subscribers = new Set();
      this.#byChannel.set(channel, subscribers);
    }
    subscribers.add(socket);
    // Real Pusher sends `"data":"{}"` for public channels; soketi leaves data out (protocol §2.1).
    send(
      socket,
      `{"event":"pusher_internal:subscription_succeeded","data":"{}","channel":${
        JSON.stringify(channel)
      }}`,
    );
  }

  #unsubscribe(socket: FakeSocket, channel: string): void {
    socket.channels.delete(channel);
    const subscribers = this.#byChannel.get(channel);
    if (!subscribers) return;
    subscribers.delete(socket);
    if (subscribers.size === 0) this.#byChannel.delete(channel);
  }

  #forget(socket: FakeSocket): void {
    for (const channel of [...socket.channels]) this.#unsubscribe(socket, channel);
    socket.established = false;
    this.#sockets.delete(socket);
  }

  #log(frame: ReceivedFrame): void {
    this.received.push(frame);
    // Trim in chunks so a long run stays O(1) per frame on average.
    if (this.received.length > this.#receivedLimit * 1.25) {
      this.received.splice(0, this.received.length - this.#receivedLimit);
    }
  }

  #onWorldChange(change: WorldChange): void {
    // Pusher's public channel events carry the title only at go-live (kick-api.md §3.5): no retitle event.
    if (!this.#publishing || change.kind === "renamed" || change.kind === "retitled") return;
    const id = change.streamer.channelId;
    if (this.#muted.has(id)) return;
    const names = this.#publishOn.map((form) => form === "dot" ? `channel.${id}` : `channel_${id}`);
    if (change.kind === "live") {
      const data = {
        livestream: {
          id: change.livestream.id,
          channel_id: id,
          session_title: change.livestream.title,
          source: null,
          created_at: laravelTimestamp(change.livestream.startedAt),
        },
      };
      for (const name of names) this.publish(name, "App\\Events\\StreamerIsLive", data);
    } else {
      // `livestream.channel.id` on stop, unlike `livestream.channel_id` on start (kick-api.md §3.5).
      // A ban ends the broadcast with `is_banned: true` (§3.5).
      const data = {
        livestream: { id: change.livestream.id, channel: { id, is_banned: change.banned } },
      };
      for (const name of names) this.publish(name, "App\\Events\\StopStreamBroadcast", data);
    }
  }
}

function send(socket: FakeSocket, text: string): boolean {
  if (socket.ws.readyState !== WebSocket.OPEN) return false;
  try {
    socket.ws.send(text);
    return true;
  } catch {
    return false;
  }
}

/** Real Pusher's subscription-refusal form: data as an object with `"code":null` (protocol §2.1). */
function sendError(socket: FakeSocket, message: string): void {
  send(socket, JSON.stringify({ event: "pusher:error", data: { code: null, message } }));
}

function closeSocket(socket: FakeSocket, code: number, reason: string): void {
  try {
    socket.ws.close(code, reason);
  } catch {
    // already closing
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function closeRelay(relay: Relay): void {
  if (relay.done) return;
  relay.done = true;
  closeQuietly(relay.client);
  if (relay.upstream) closeQuietly(relay.upstream);
}

/** Copies bytes one way until either side ends, then cuts both (the relay is all or nothing). */
async function pump(from: Deno.Conn, to: Deno.Conn, relay: Relay): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (!relay.done) {
      const n = await from.read(buffer);
      if (n === null) break;
      let offset = 0;
      while (offset < n) offset += await to.write(buffer.subarray(offset, n));
    }
  } catch {
    // the other direction or dropAll() closed a side
  } finally {
    closeRelay(relay);
  }
}

function randomDigits(): number {
  return 100_000 + Math.floor(Math.random() * 899_999_999);
}

/** `2025-09-14T23:18:20.000000Z`: Laravel's microsecond ISO form, as in kick-api.md §3.5. */
function laravelTimestamp(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
