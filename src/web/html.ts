/**
 * HTML built safely: the `html` tagged template escapes every interpolated value unless it is already
 * {@link SafeHtml} (another `html` result). Titles, categories and slugs come from streamers and Kick, so
 * nothing reaches a page unescaped: a title of `<script>alert(1)</script>` renders as text.
 */

/** Markup that is already safe to insert (built by {@link html}). */
export class SafeHtml {
  constructor(readonly text: string) {}
  /** The markup. */
  toString(): string {
    return this.text;
  }
}

/** A value `html` accepts: text and numbers are escaped; null and undefined render as nothing. */
export type HtmlValue = SafeHtml | string | number | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for an HTML element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined) return "";
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/**
 * Builds markup, escaping each interpolation.
 *
 * @example
 * ```ts
 * html`<td>${"<b>"}</td>`.text; // "<td>&lt;b&gt;</td>"
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** A time as `<time>`: UTC text the page's script shows in the reader's own zone. */
export function timeTag(iso: string | null): SafeHtml {
  if (iso === null) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace("T", " ")} UTC</time>`;
}

/** A duration as "3 h 12 min", "12 min" or "45 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60) % 60;
  const hours = Math.floor(s / 3600);
  if (hours === 0) return `${minutes} min`;
  if (hours < 48) return `${hours} h ${minutes} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** The path of a streamer's page. */
export function streamerPath(slug: string): string {
  return `/streamers/${encodeURIComponent(slug)}`;
}

/** The page around `body`: one stylesheet and one script, both served by the daemon (no inline code). */
export function layout(title: string, body: SafeHtml, bodyAttributes: SafeHtml = html``): string {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <title>${title}</title>
        <link rel="stylesheet" href="/static/style.css">
        <link rel="icon" href="/static/icon.svg" type="image/svg+xml">
        <script src="/static/app.js" defer></script>
      </head>
      <body ${bodyAttributes}>
        <a class="skip" href="#main">Skip to content</a>
        <header><a href="/" class="brand">kick-monitor</a></header>
        <main id="main">
    ${body}
        </main>
        <footer>
          <p id="live-updates" role="status" aria-live="polite">Live updates: connecting…</p>
        </footer>
      </body>
    </html>
  `.text;
}
