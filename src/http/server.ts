/**
 * The daemon's HTTP listener: `/healthz` (200 or 503 with details as JSON), `/metrics` (Prometheus), and the
 * routes it is given (the read API, read_api.ts; the status page, src/web/). It binds where KICK_MONITOR_HTTP
 * says (loopback by default); with a token, everything but `/healthz` needs it (access.ts), and every answer
 * carries the security headers.
 */
import { AccessGuard, SECURITY_HEADERS, unauthorized } from "./access.ts";
import { ConfigError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { redact } from "../lib/redact.ts";

export interface HealthReport {
  healthy: boolean;
  [detail: string]: unknown;
}

/** A GET route: a fixed path, or a pattern whose groups the handler receives. */
export interface Route {
  path: string | RegExp;
  /** An HTML page: a valid `?token=` on it is traded for a cookie (access.ts). */
  page?: boolean;
  handle(request: Request, groups: string[]): Promise<Response> | Response;
}

/** What the listener serves. */
export interface HttpHandlers {
  health(): Promise<HealthReport> | HealthReport;
  metrics(): string;
  /** Further GET routes, tried in order after /healthz and /metrics. */
  routes?: readonly Route[];
  /** KICK_MONITOR_HTTP_TOKEN: when set, every route but /healthz needs it. */
  token?: string;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the listener; `port` 0 picks a free port. Throws ConfigError (exit 78) naming KICK_MONITOR_HTTP when
 * the address is taken or cannot be bound.
 */
export function startHttpServer(
  listen: { hostname: string; port: number },
  handlers: HttpHandlers,
): HttpServer {
  try {
    return serve(listen, handlers);
  } catch (error) {
    const address = listen.hostname.includes(":")
      ? `[${listen.hostname}]:${listen.port}`
      : `${listen.hostname}:${listen.port}`;
    if (error instanceof Deno.errors.AddrInUse) {
      throw new ConfigError([
        `KICK_MONITOR_HTTP=${address}: the address is already in use (another process listens there); ` +
        'pick a free "host:port", or "off" to run without the health and metrics listener',
      ]);
    }
    if (
      error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied
    ) {
      throw new ConfigError([
        `KICK_MONITOR_HTTP=${address}: cannot listen there (${
          error instanceof Error ? error.message : String(error)
        }); pick an address of this machine and a port above 1023, or "off"`,
      ]);
    }
    throw error;
  }
}

function serve(listen: { hostname: string; port: number }, handlers: HttpHandlers): HttpServer {
  const guard = handlers.token ? new AccessGuard(handlers.token) : null;
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    onListen: ({ hostname, port }) =>
      log.info("http listening", { address: `${hostname}:${port}` }),
  }, async (request) => withSecurityHeaders(await answer(request, handlers, guard)));
  return {
    port: server.addr.port,
    close: () => server.shutdown(),
  };
}

function withSecurityHeaders(response: Response): Response {
  const missing = Object.entries(SECURITY_HEADERS).filter(([name]) => !response.headers.has(name));
  if (missing.length === 0) return response;
  try {
    for (const [name, value] of missing) response.headers.set(name, value);
    return response;
  } catch {
    // Immutable headers (Response.redirect, a fetched response): answer with a copy that has them.
    const headers = new Headers(response.headers);
    for (const [name, value] of missing) headers.set(name, value);
    return new Response(response.body, { status: response.status, headers });
  }
}

async function answer(
  request: Request,
  handlers: HttpHandlers,
  guard: AccessGuard | null,
): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  if (pathname === "/healthz") {
    const report = await handlers.health();
    // The details carry error messages from drivers and servers: they pass the one redaction function.
    return new Response(redact(JSON.stringify(report)), {
      status: report.healthy ? 200 : 503,
      headers: { "content-type": "application/json" },
    });
  }
  const route = findRoute(handlers.routes ?? [], pathname);
  if (guard !== null) {
    const decision = guard.decide(request, route?.route.page === true);
    if (decision.kind === "deny") return unauthorized();
    if (decision.kind === "redirect") {
      return new Response(null, {
        status: 303,
        headers: { location: decision.location, "set-cookie": decision.setCookie },
      });
    }
  }
  if (pathname === "/metrics") {
    return new Response(handlers.metrics(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  }
  if (route !== null) return await route.route.handle(request, route.groups);
  return new Response("not found\n", { status: 404 });
}

function findRoute(
  routes: readonly Route[],
  pathname: string,
): { route: Route; groups: string[] } | null {
  for (const route of routes) {
    const groups = typeof route.path === "string"
      ? (route.path === pathname ? [] : null)
      : route.path.exec(pathname)?.slice(1) ?? null;
    if (groups !== null) return { route, groups };
  }
  return null;
}
