/**
 * What `config show` prints: every variable's effective value and where it came from, secrets masked. The
 * settings themselves are src/config.ts.
 */
import {
  configSchema,
  type LoadedSettings,
  SECRET_VARIABLES,
  type ValueOrigin,
  VARIABLE_NAMES,
  type VariableName,
} from "./config.ts";
import { MASK, redact } from "./lib/redact.ts";

/**
 * Settings as shown by `config show`: every variable's effective value and origin, secrets as "***" (the
 * client secret whole; a password or secret parameter inside a URL, through the one redaction function).
 */
export function describeSettings(
  settings: LoadedSettings,
): { name: VariableName; value: string | null; origin: ValueOrigin }[] {
  const defaults = configSchema.safeParse({});
  return VARIABLE_NAMES.map((name) => {
    const raw = settings.values[name];
    if (raw !== undefined) {
      return {
        name,
        value: SECRET_VARIABLES.has(name) ? MASK : redact(shownValue(name, raw)),
        origin: settings.origins[name]!,
      };
    }
    const fallback = defaults.success ? defaults.data[name] : undefined;
    return { name, value: renderDefault(name, fallback), origin: "default" as const };
  });
}

/** A PEM key given as text is shown as one line (its lines would break the table), not in full. */
function shownValue(name: VariableName, raw: string): string {
  if (name !== "KICK_WEBHOOK_PUBLIC_KEY" || !raw.includes("-----BEGIN")) return raw;
  return `(PEM text, ${raw.trim().length} characters)`;
}

function renderDefault(name: VariableName, value: unknown): string | null {
  if (value === undefined) return null;
  if (name === "KICK_MONITOR_HTTP" || name === "KICK_WEBHOOK_LISTEN") {
    const listen = value as { hostname: string; port: number } | null;
    return listen ? `${listen.hostname}:${listen.port}` : "off";
  }
  return String(value);
}
