/**
 * Zod schemas of everything Kick sends us, following kick-api.md section by section. Unknown fields are
 * tolerated (and dropped); a field is nullable or optional where the reference says it is, or where it
 * reports conflicting or undocumented values.
 */
import { z } from "zod";
import { kickIdSchema, parseKickTime } from "./values.ts";

export { parseKickTime };

const intId = kickIdSchema;

// ---- OAuth (kick-api.md §1.2) ----

/** `POST /oauth/token` with `grant_type=client_credentials`. */
export const oauthTokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string(),
  // A number of seconds; the docs show it as a string placeholder, so a numeric string is accepted.
  expires_in: z.union([
    z.number().nonnegative(),
    z.string().regex(/^\d+$/).transform(Number),
  ]),
});
export type OAuthToken = z.output<typeof oauthTokenSchema>;

/** RFC 6749 error body of id.kick.com, e.g. `{"error":"invalid_client","error_description":"…"}`. */
export const oauthErrorSchema = z.object({
  error: z.string(),
  error_description: z.string().optional(),
});
export type OAuthError = z.output<typeof oauthErrorSchema>;

// ---- Official API envelope (kick-api.md §1.3) ----

/** `{"data": …, "message": "OK"}`. `message` is never read, so it may be missing. */
export function envelope<T extends z.ZodType>(data: T): z.ZodObject<{
  data: T;
  message: z.ZodOptional<z.ZodString>;
}> {
  return z.object({ data, message: z.string().optional() });
}

/** The API's error body, e.g. 401 `{"data":{},"message":"Unauthorized"}`. */
export const apiErrorSchema = z.object({ data: z.unknown(), message: z.string() });

// ---- Best-effort fields ----
// Kick adds, drops and reshapes fields the monitor never relies on (kick-api.md §1.4 field history, #391,
// #152): they are read when they have the expected shape and are null otherwise, never a reason to refuse an
// item. Unknown fields are dropped.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A non-empty string, else null. */
const lenientText = z.unknown().transform((value): string | null =>
  typeof value === "string" && value !== "" ? value : null
);

/** A count (viewers): a non-negative integer, or a string of digits; else null. */
const lenientCount = z.unknown().transform((value): number | null => {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === "string" && /^\d{1,12}$/.test(value)) return Number(value);
  return null;
});

/** `{id, name, thumbnail}` as in channels and livestreams: only the name is read. */
const lenientCategoryName = z.unknown().transform((value): string | null =>
  isRecord(value) && typeof value.name === "string" && value.name !== "" ? value.name : null
);

/** A Kick timestamp that must be readable when present (the monitor dates sessions by it). */
const strictTime = z.union([z.string(), z.null()]).optional().superRefine((value, context) => {
  if (typeof value === "string" && value !== "" && parseKickTime(value) === null) {
    context.addIssue({
      code: "custom",
      message: `unreadable time ${JSON.stringify(value.slice(0, 40))}`,
    });
  }
});

// ---- Channels (kick-api.md §1.4) ----

/**
 * `data[i].stream`: the monitor relies on `is_live` and `start_time` only. What it holds when offline is
 * undocumented (§1.4); an offline stream's zero start time reads as null.
 */
export const channelStreamSchema = z.object({
  is_live: z.boolean(),
  start_time: z.union([z.string(), z.null()]).optional(),
  viewer_count: lenientCount.optional(),
}).superRefine((stream, context) => {
  // A live stream's start time dates its session, so it must be readable; an offline one's is a placeholder.
  const start = stream.start_time;
  if (
    stream.is_live && typeof start === "string" && start !== "" && parseKickTime(start) === null
  ) {
    context.addIssue({
      code: "custom",
      path: ["start_time"],
      message: `unreadable time ${JSON.stringify(start.slice(0, 40))}`,
    });
  }
});

/**
 * One item of `GET /public/v1/channels`. Strict on what the monitor uses (`broadcaster_user_id`, `slug`, and
 * through {@link channelStreamSchema} `stream.is_live`, `stream.start_time`); the stream is read separately,
 * so a missing or odd `stream` is "no observation" for that channel, never "offline". There is no channel id
 * and no chatroom id here (§1.4).
 */
export const channelSchema = z.object({
  broadcaster_user_id: intId,
  slug: z.string().min(1),
  stream_title: lenientText.optional(),
  category: lenientCategoryName.optional(),
  stream: z.unknown().optional(),
});
export type ChannelPayload = z.output<typeof channelSchema>;

/** The envelope of a list endpoint: items are validated one by one, so one odd item costs only itself. */
export const listResponseSchema = envelope(z.array(z.unknown()));

// ---- Livestreams v1 (kick-api.md §1.5) ----

/** One item of `GET /public/v1/livestreams`: live streams only, the one official source of `channel_id`. */
export const livestreamSchema = z.object({
  broadcaster_user_id: intId,
  channel_id: intId,
  slug: z.string().min(1),
  stream_title: lenientText.optional(),
  started_at: strictTime,
  viewer_count: lenientCount.optional(),
  category: lenientCategoryName.optional(),
});
export type LivestreamPayload = z.output<typeof livestreamSchema>;

// ---- Users (kick-api.md §1.6) ----

/** One item of `GET /public/v1/users`; `email` only for the token owner (not read). */
export const userSchema = z.object({
  user_id: intId,
  name: z.string(),
  profile_picture: lenientText.optional(),
});
export type UserPayload = z.output<typeof userSchema>;

// ---- Public key (kick-api.md §1.7) ----

export const publicKeyResponseSchema = envelope(z.object({ public_key: z.string().min(1) }));

// ---- Event subscriptions (kick-api.md §1.8) ----

/**
 * One item of `GET /public/v1/events/subscriptions`. Ids are ULID strings; `app_id`, `method` and
 * `updated_at` are not read.
 */
export const eventSubscriptionSchema = z.object({
  id: z.string().min(1),
  broadcaster_user_id: intId,
  event: z.string().min(1),
  version: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]),
  created_at: z.string().nullish(),
});
export type EventSubscriptionPayload = z.output<typeof eventSubscriptionSchema>;

/** One element of `POST /public/v1/events/subscriptions`' answer: errors are per element (§1.8). */
export const createdSubscriptionSchema = z.object({
  name: z.string(),
  version: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]),
  subscription_id: z.string().nullish(),
  error: z.string().nullish(),
});

// ---- Legacy website API (kick-api.md §2.1) ----

/** `livestream` of `/api/v2/channels/{slug}`; null when offline. Both viewer spellings appear. */
export const legacyLivestreamSchema = z.object({
  id: intId,
  slug: z.string().nullish(),
  channel_id: intId.nullish(),
  created_at: z.string().nullish(),
  start_time: z.string().nullish(),
  session_title: z.string().nullish(),
  is_live: z.boolean(),
  viewer_count: z.number().int().nullish(),
  viewers: z.number().int().nullish(),
  language: z.string().nullish(),
  is_mature: z.boolean().nullish(),
  categories: z.array(z.object({ name: z.string() })).nullish(),
});

/** `GET {webUrl}/api/v2/channels/{slug}`: three distinct ids (§3.4): channel, user and chatroom. */
export const legacyChannelSchema = z.object({
  id: intId,
  user_id: intId,
  slug: z.string(),
  is_banned: z.boolean().nullish(),
  chatroom: z.object({ id: intId, channel_id: intId.nullish() }),
  livestream: legacyLivestreamSchema.nullable(),
});
export type LegacyChannelPayload = z.output<typeof legacyChannelSchema>;

/** The legacy API's error body, e.g. `{"message":"No query results for model [App\\Models\\Channel]."}`. */
export const legacyErrorSchema = z.object({ message: z.string() });

// ---- Reading bodies ----

/** "path: message" for the first few issues, e.g. `data[0].stream.is_live: expected boolean…`. */
export function describeIssues(error: z.ZodError, limit = 3): string {
  const shown = error.issues.slice(0, limit).map((issue) => {
    let path = "";
    for (const key of issue.path) {
      path += typeof key === "number" ? `[${key}]` : path === "" ? String(key) : `.${String(key)}`;
    }
    return `${path === "" ? "(body)" : path}: ${issue.message}`;
  });
  const more = error.issues.length - shown.length;
  return shown.join("; ") + (more > 0 ? ` (and ${more} more)` : "");
}

/**
 * Parses a body as JSON and validates it: the typed value, or a sentence saying what was wrong
 * (not JSON, or which fields did not match). The body itself is never quoted, so nothing it holds leaks.
 */
export function parseBody<T extends z.ZodType>(
  schema: T,
  body: string,
): { ok: true; value: z.output<T> } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    const trimmed = body.trimStart();
    const what = trimmed === ""
      ? "an empty body"
      : trimmed.startsWith("<")
      ? `an HTML page (${body.length} bytes)`
      : `${body.length} bytes that are not valid JSON (truncated?)`;
    return { ok: false, problem: `expected JSON, got ${what}` };
  }
  const result = schema.safeParse(json);
  if (!result.success) return { ok: false, problem: describeIssues(result.error) };
  return { ok: true, value: result.data };
}

/** Whole-body schemas, item by item as strict as {@link channelSchema} and friends (live contract tests). */
export const channelsResponseSchema = envelope(z.array(channelSchema));
export const livestreamsResponseSchema = envelope(z.array(livestreamSchema));
export const usersResponseSchema = envelope(z.array(userSchema));
