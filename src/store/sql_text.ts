/** Values made safe for PostgreSQL text and jsonb columns (shared by the writers in src/store/). */

/** PostgreSQL text cannot hold NUL characters; Kick titles never mean them. */
export function cleanText(value: string | null): string | null {
  return value === null ? null : value.replaceAll("\u0000", "");
}

/** The source payload as JSON text for a jsonb column (which cannot hold `\u0000` either). */
export function rawJson(raw: unknown): string | null {
  if (raw === undefined) return null;
  const json = JSON.stringify(raw);
  return json === undefined ? null : json.replaceAll("\\u0000", "");
}
