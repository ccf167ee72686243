/**
 * The value schemas of the settings (src/config.ts): URLs, listeners, numbers in a range, paths, PEM text.
 */
import { z } from "zod";
import { parseDatabaseUrl } from "./store/database_url.ts";

/** An http(s) URL. */
export const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, { message: "expected an http(s) URL" });

/** What turns Pusher off (KICK_PUSHER_URL=off): the daemon then runs on webhooks and the poll only. */
export const PUSHER_OFF = "off";

export const pusherUrl = z.string().refine((value) => {
  if (value === PUSHER_OFF) return true;
  try {
    const url = new URL(value);
    return url.protocol === "ws:" || url.protocol === "wss:";
  } catch {
    return false;
  }
}, { message: 'expected a ws:// or wss:// URL, or "off"' });

export const postgresUrl = z.string().superRefine((value, ctx) => {
  try {
    parseDatabaseUrl(value);
  } catch (error) {
    ctx.addIssue({
      code: "custom",
      message: `${
        error instanceof Error ? error.message : String(error)
      } (postgres://user:password@host:5432/db, or postgres://user@/db?host=/var/run/postgresql for a Unix socket)`,
    });
  }
});

/** An integer setting within [min, max]. */
export function integerIn(min: number, max: number, unit: string) {
  return z.string().trim().regex(/^\d+$/, { message: `expected a whole number of ${unit}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `expected ${min} to ${max} ${unit}` });
}

/** A number setting within [min, max]. */
export function numberIn(min: number, max: number, unit: string) {
  return z.string().trim().regex(/^\d+(\.\d+)?$/, { message: `expected a number of ${unit}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `expected ${min} to ${max} ${unit}` });
}

export const httpListen = z.string().trim().transform((value, ctx) => {
  if (value === "off") return null;
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    ctx.addIssue({ code: "custom", message: 'expected "host:port" or "off"' });
    return z.NEVER;
  }
  return { hostname: match[1].replace(/^\[|\]$/g, ""), port };
});

/** A URL path: starts with "/", no query, fragment, spaces or dot segments. */
export const urlPath = z.string().trim().refine(
  (value) => /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(value) && !/(^|\/)\.\.?(\/|$)/.test(value),
  { message: 'expected a URL path such as "/kick/webhook" (no query, spaces or ".." segments)' },
);

/**
 * KICK_WEBHOOK_PUBLIC_KEY: PEM text, or the path of a PEM file. Only its form is checked here (a PEM block, or
 * something that can be a path); the file is read and the key imported when the receiver starts
 * (src/kick/webhook_key.ts), which names the variable in its errors too.
 */
export const pemOrPath = z.string().trim().refine(
  (value) =>
    value.includes("-----BEGIN") ? /-----END [A-Z0-9 ]+-----/.test(value) : !/[\n\r\0]/.test(value),
  { message: "expected PEM text (-----BEGIN PUBLIC KEY----- …) or the path of a PEM file" },
);
