/**
 * The one redaction function, applied at every output boundary (the logger, error printing in main.ts,
 * `config show`, `/healthz`). Two rules, both needed:
 *
 * - **structural**: in anything that looks like a URL (`scheme://…`), the password of its userinfo and the
 *   values of secret-looking query parameters (`token`, `secret`, `password`, `key`, …) become `***`, whatever
 *   their length. This is what keeps a short or common password (`postgres`) out of messages without mangling
 *   every `postgres://` in them.
 * - **exact**: the secrets registered with `addSecret` (the client secret, the database password, app tokens
 *   minted at run time) are replaced wherever they appear, raw, URL-encoded or JSON-escaped, when they are
 *   long enough to be meaningful (a one-letter secret would turn every message into stars) and are not one of
 *   the words our own messages are made of.
 *
 * ```ts
 * import { addSecret, redact } from "./redact.ts";
 * addSecret("kms-SECRET-9f8e7d6c");
 * redact("postgres://app:hunter2@db:5432/x?sslkey=k"); // "postgres://app:***@db:5432/x?sslkey=***"
 * redact("token kms-SECRET-9f8e7d6c refused");          // "token *** refused"
 * ```
 */

/** The mask every secret is replaced with. */
export const MASK = "***";

/** Shorter registered secrets are only masked structurally: matching them everywhere mangles messages. */
export const MIN_SECRET_LENGTH = 6;

/** Query parameters whose values are secrets (compared lowercase, `-` read as `_`). */
const SECRET_PARAMETERS: ReadonlySet<string> = new Set([
  "token",
  "secret",
  "password",
  "passwd",
  "pass",
  "pwd",
  "key",
  "sslkey",
  "sslpassword",
  "api_key",
  "apikey",
  "access_token",
  "refresh_token",
  "id_token",
  "client_secret",
  "auth",
  "signature",
  "sig",
]);

/**
 * Words our own output is made of: a "secret" equal to one of them (a password of `postgres`) is not worth
 * hiding the vocabulary for. It is still masked wherever it appears as a URL's password.
 */
const OWN_WORDS: ReadonlySet<string> = new Set([
  "postgres",
  "postgresql",
  "password",
  "secret",
  "localhost",
  "database",
  "monitor",
  "kick-monitor",
  "streamer",
  "streamers",
  "online",
  "offline",
  "healthy",
  "running",
  "connected",
  "unknown",
  "default",
  "public",
]);

const secrets = new Set<string>();
/** Every registered secret with its encoded forms, longest first (so a longer form is masked whole). */
let forms: string[] = [];

/**
 * Registers a secret (a configured one, or a token minted at run time) for exact masking from now on, in
 * every output of this process. Too short or too common a value is ignored (structural masking still
 * applies).
 */
export function addSecret(secret: string | null | undefined): void {
  if (!secret || secret.length < MIN_SECRET_LENGTH || OWN_WORDS.has(secret.toLowerCase())) return;
  if (secrets.has(secret)) return;
  secrets.add(secret);
  const all = new Set(forms);
  for (const form of encodedForms(secret)) {
    if (form.length >= MIN_SECRET_LENGTH) all.add(form);
  }
  forms = [...all].sort((a, b) => b.length - a.length);
}

function encodedForms(secret: string): string[] {
  const out = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
  // application/x-www-form-urlencoded (a space as "+"), as OAuth bodies echo it.
  out.push(new URLSearchParams({ s: secret }).toString().slice(2));
  try {
    // A secret given URL-encoded (a password in DATABASE_URL) is also hidden decoded.
    out.push(decodeURIComponent(secret));
  } catch {
    // Not valid percent-encoding: the raw form is enough.
  }
  return out;
}

// A URL-ish token: a scheme, "://", then anything up to whitespace, a quote or an angle bracket.
const URL_PATTERN = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^\s"'<>`]*)/g;
// "user:password@host" outside a well-formed URL (a mistyped `postgres:/u:p@h/db` in a config error): a
// word, ":", anything but a space, quote or "/" up to the last "@" before a host name.
const BARE_USERINFO_PATTERN = /(^|[\s"'=/(])([^\s"'@:/]+):(?!\*\*\*@)[^\s"'/]+@(?=[A-Za-z0-9[])/g;

/**
 * Masks secrets in `text`: URL passwords and secret query parameters structurally, then every registered
 * secret exactly. Safe on any text; returns it unchanged when there is nothing to hide.
 */
export function redact(text: string): string {
  let out = text.includes("://") ? text.replace(URL_PATTERN, maskUrlToken) : text;
  if (out.includes("@")) out = out.replace(BARE_USERINFO_PATTERN, `$1$2:${MASK}@`);
  for (const form of forms) {
    if (out.includes(form)) out = out.split(form).join(MASK);
  }
  return out;
}

function maskUrlToken(_match: string, scheme: string, rest: string): string {
  // The userinfo ends at the last "@" of the authority (a password with a raw "@" is masked whole). A raw
  // "/" in a password ends the authority early: then the last "@" before the query counts, when what comes
  // before it has a ":".
  const beforeQuery = rest.slice(0, firstIndexOf(rest, ["?", "#"]));
  let at = beforeQuery.slice(0, firstIndexOf(beforeQuery, ["/"])).lastIndexOf("@");
  if (at < 0) {
    const last = beforeQuery.lastIndexOf("@");
    if (last >= 0 && beforeQuery.slice(0, last).includes(":")) at = last;
  }
  let masked = rest;
  if (at >= 0) {
    const colon = rest.slice(0, at).indexOf(":");
    if (colon >= 0) masked = `${rest.slice(0, colon)}:${MASK}${rest.slice(at)}`;
  }
  return scheme + maskQuery(masked);
}

function maskQuery(tail: string): string {
  const question = tail.indexOf("?");
  if (question < 0) return tail;
  const hash = tail.indexOf("#", question);
  const end = hash < 0 ? tail.length : hash;
  const query = tail.slice(question + 1, end).split("&").map((pair) => {
    const equals = pair.indexOf("=");
    if (equals < 0) return pair;
    const name = safeDecode(pair.slice(0, equals)).toLowerCase().replaceAll("-", "_");
    return SECRET_PARAMETERS.has(name) ? `${pair.slice(0, equals)}=${MASK}` : pair;
  }).join("&");
  return `${tail.slice(0, question + 1)}${query}${tail.slice(end)}`;
}

function firstIndexOf(text: string, needles: string[]): number {
  let first = text.length;
  for (const needle of needles) {
    const at = text.indexOf(needle);
    if (at >= 0 && at < first) first = at;
  }
  return first;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Forgets every registered secret; for tests only. */
export function clearSecretsForTests(): void {
  secrets.clear();
  forms = [];
}
