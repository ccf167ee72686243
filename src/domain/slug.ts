/** Kick slug rules: the URL part of kick.com/<slug>. */
import { UsageError } from "../lib/errors.ts";

export const MAX_SLUG_LENGTH = 25;
const SLUG_PATTERN = /^[a-z0-9_-]+$/;

/**
 * Normalises case and validates a slug; returns the normalised slug or a sentence saying what is wrong.
 * Kick slugs are lowercase letters, digits, `-` and `_`, at most 25 characters (kick-api.md §1.4).
 */
export function checkSlug(input: string): { slug: string } | { problem: string } {
  const slug = input.trim().toLowerCase();
  if (slug.length === 0) return { problem: "Slug must not be empty" };
  if (slug.length > MAX_SLUG_LENGTH) {
    return {
      problem: `Slug ${
        JSON.stringify(input)
      } is ${slug.length} characters long; Kick slugs have at most ${MAX_SLUG_LENGTH}`,
    };
  }
  if (!SLUG_PATTERN.test(slug)) {
    return {
      problem: `Slug ${
        JSON.stringify(input)
      } has characters Kick slugs never contain; expected lowercase letters, digits, "-" and "_"`,
    };
  }
  return { slug };
}

/** Normalises a slug or throws a UsageError (exit 2) naming the problem. */
export function normaliseSlug(input: string): string {
  const result = checkSlug(input);
  if ("problem" in result) throw new UsageError(result.problem);
  return result.slug;
}
