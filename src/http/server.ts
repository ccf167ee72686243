/**
 * The daemon's HTTP listener: `/healthz` (200 or 503 with details as JSON) and `/metrics` (Prometheus).
 * It binds where KICK_MONITOR_HTTP says (loopback by default) and serves nothing else.
 */
import { log } from "../lib/log.ts";

export interface HealthReport {
  healthy: boolean;
  [detail: string]: unknown;
}

export interface HttpHandlers {
  health(): Promise<HealthReport> | HealthReport;
  metrics(): string;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/** Starts the listener; `port` 0 picks a free port. */
export function startHttpServer(
  listen: { hostname: string; port: number },
  handlers: HttpHandlers,
): HttpServer {
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    onListen: ({ hostname, port }) =>
      log.info("http listening", { address: `${hostname}:${port}` }),
  }, async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (pathname === "/healthz") {
      const report = await handlers.health();
      return Response.json(report, { status: report.healthy ? 200 : 503 });
    }
    if (pathname === "/metrics") {
      return new Response(handlers.metrics(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    return new Response("not found\n", { status: 404 });
  });
  return {
    port: server.addr.port,
    close: () => server.shutdown(),
  };
}
