/**
 * Message templates (`--template-online`, `--template-offline`): literal text with `{field}` placeholders,
 * nothing else. No expressions and no code: a template is parsed once, at `notify add`, where an unknown field
 * is an error; `{{` and `}}` stand for literal braces. Field values are escaped for the service, the
 * operator's own text is not (it may use the service's markup on purpose).
 */
import { formatDuration } from "./duration.ts";
import type { Notification } from "./types.ts";

/** The fields a template may name. */
export const TEMPLATE_FIELDS = [
  "slug",
  "title",
  "category",
  "url",
  "started_at",
  "duration",
  "viewers",
] as const;
export type TemplateField = typeof TEMPLATE_FIELDS[number];

/** Fields whose values are written by the streamer (or name it), escaped for each service. */
const STREAMER_TEXT: ReadonlySet<TemplateField> = new Set(["slug", "title", "category"]);

/** A parsed template: literal text and fields, in order. */
export type TemplatePart = { text: string } | { field: TemplateField };

/** A template that cannot be used; the message names the option and the problem. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

export const DEFAULT_TEMPLATES = {
  online: "{slug} is live: {title}",
  offline: "{slug} is offline (was live for {duration})",
  title: "{slug} changed the title: {title} ({category})",
  test: "Test notification from kick-monitor ({slug})",
} as const;

/**
 * Parses a template; `option` names it in errors (`--template-online`). Throws TemplateError for an unknown
 * field, an unclosed `{` or a stray `}`.
 *
 * @example
 * ```ts
 * parseTemplate("{slug} is live", "--template-online"); // [{ field: "slug" }, { text: " is live" }]
 * ```
 */
export function parseTemplate(template: string, option: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = "";
  for (let i = 0; i < template.length; i++) {
    const char = template[i];
    if ((char === "{" || char === "}") && template[i + 1] === char) {
      text += char;
      i++;
      continue;
    }
    if (char === "}") {
      throw new TemplateError(
        `${option} has a "}" without a "{" at position ${i + 1} (write "}}" for a literal brace)`,
      );
    }
    if (char !== "{") {
      text += char;
      continue;
    }
    const end = template.indexOf("}", i);
    if (end < 0) {
      throw new TemplateError(
        `${option} has an unclosed "{" at position ${i + 1} (write "{{" for a literal brace)`,
      );
    }
    const name = template.slice(i + 1, end).trim();
    const field = TEMPLATE_FIELDS.find((f) => f === name);
    if (field === undefined) {
      throw new TemplateError(
        `${option} names an unknown field ${JSON.stringify(`{${name}}`)}; the fields are ${
          TEMPLATE_FIELDS.map((f) => `{${f}}`).join(", ")
        }`,
      );
    }
    if (text !== "") parts.push({ text });
    text = "";
    parts.push({ field });
    i = end;
  }
  if (text !== "") parts.push({ text });
  return parts;
}

/** The channel page of a streamer. */
export function channelUrl(slug: string): string {
  return `https://kick.com/${encodeURIComponent(slug)}`;
}

/** "2026-11-25 18:00 UTC": a start time readable in any chat, whatever the reader's zone. */
export function formatStartTime(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Every field's value for `notification` (unescaped). */
export function templateValues(notification: Notification): Record<TemplateField, string> {
  const started = notification.startedAt;
  return {
    slug: notification.slug,
    title: notification.title ?? "",
    category: notification.category ?? "",
    url: channelUrl(notification.slug),
    started_at: started === null ? "" : formatStartTime(started),
    duration: started === null
      ? "an unknown time"
      : formatDuration(notification.occurredAt.getTime() - started.getTime()),
    viewers: notification.viewers === null ? "" : String(notification.viewers),
  };
}

/**
 * Renders `template` (already validated at `notify add`; the default of the kind when null) for
 * `notification`, passing every field value through `escape`. Literal text is kept as the operator wrote it.
 */
export function renderTemplate(
  template: string | null,
  notification: Notification,
  escape: (text: string) => string,
): string {
  const source = template ?? DEFAULT_TEMPLATES[notification.kind];
  const values = templateValues(notification);
  const text = parseTemplate(source, "template").map((part) => {
    if ("text" in part) return part.text;
    // Only streamer-written text needs escaping; the link, time, duration and count are ours (escaping the
    // URL would break the link).
    return STREAMER_TEXT.has(part.field) ? escape(values[part.field]) : values[part.field];
  }).join("").trim();
  // The default title message names the category in parentheses: none when it is not known.
  return template === null ? text.replace(/\s*\(\)$/, "") : text;
}

/** The template of a target for a notification's kind (its own, or null for the default). */
export function templateFor(
  target: { templateOnline: string | null; templateOffline: string | null },
  kind: Notification["kind"],
): string | null {
  if (kind === "online") return target.templateOnline;
  if (kind === "offline") return target.templateOffline;
  return null;
}
