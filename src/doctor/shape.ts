/**
 * The shape of a JSON value (its keys and their types, never the values), and the comparison of two shapes. The
 * live contract tests (tests/live/) compare what the real Kick answers with what the simulated Kick (src/sim/)
 * answers to the same request, so the fake cannot silently drift from the service it stands in for.
 *
 * A shape is flat: every path in the value, with the JSON types seen there. Object keys are joined with ".",
 * array elements are "[]" (all elements share one path), and the root is "". So
 * `{"data":[{"stream":{"is_live":true}}]}` has the paths "", "data", "data[]", "data[].stream" and
 * "data[].stream.is_live" (boolean). Pure functions, no I/O.
 */

/** The JSON types a value can have. */
export type JsonType = "null" | "boolean" | "number" | "string" | "array" | "object";

/** Every path of a value, with the types seen there, sorted. */
export type Shape = Readonly<Record<string, readonly JsonType[]>>;

const TYPE_ORDER: readonly JsonType[] = ["object", "array", "string", "number", "boolean", "null"];

/** The shape of a parsed JSON value. Values that JSON cannot hold (undefined, functions) are skipped. */
export function shapeOf(value: unknown): Shape {
  const seen = new Map<string, Set<JsonType>>();
  collect(value, "", seen);
  const shape: Record<string, JsonType[]> = {};
  for (const path of [...seen.keys()].sort()) {
    shape[path] = TYPE_ORDER.filter((type) => seen.get(path)!.has(type));
  }
  return shape;
}

function collect(value: unknown, path: string, seen: Map<string, Set<JsonType>>): void {
  const type = jsonTypeOf(value);
  if (type === null) return;
  let types = seen.get(path);
  if (types === undefined) {
    types = new Set();
    seen.set(path, types);
  }
  types.add(type);
  if (type === "array") {
    for (const item of value as unknown[]) collect(item, `${path}[]`, seen);
  } else if (type === "object") {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      collect(child, path === "" ? key : `${path}.${key}`, seen);
    }
  }
}

function jsonTypeOf(value: unknown): JsonType | null {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "boolean":
      return "boolean";
    case "number":
      return "number";
    case "string":
      return "string";
    case "object":
      return "object";
    default:
      return null;
  }
}

/** How a path is shown: the root as "(root)". */
function showPath(path: string): string {
  return path === "" ? "(root)" : path;
}

function showTypes(types: readonly JsonType[]): string {
  return types.join("|");
}

/** The path of the object or array that holds `path`, and whether `path` is an array element of it. */
function parentOf(path: string): { parent: string; element: boolean } {
  if (path.endsWith("[]")) return { parent: path.slice(0, -2), element: true };
  const dot = path.lastIndexOf(".");
  const bracket = path.lastIndexOf("[]");
  // "data[].slug": the parent is "data[]"; "a.b": "a"; "slug": the root.
  if (dot === -1 && bracket === -1) return { parent: "", element: false };
  if (dot > bracket) return { parent: path.slice(0, dot), element: false };
  return { parent: path.slice(0, bracket + 2), element: false };
}

/**
 * The differences between two shapes, one sentence each, sorted by path, e.g.
 * `data[].stream.is_live: boolean vs string` (the real type first, then the fake's) or
 * `data[].stream.key: only in real (string)`. Tolerated, so not reported:
 *
 * - a field that is null on one side and a value on the other (nullable fields, e.g. an offline stream);
 * - what lies under a path one side does not have at all (only the topmost missing path is reported);
 * - the elements of an array that is empty on one side (its element type is unknown there).
 */
export function compareShapes(real: Shape, fake: Shape): string[] {
  const differences: string[] = [];
  const paths = [...new Set([...Object.keys(real), ...Object.keys(fake)])].sort();
  for (const path of paths) {
    const realTypes = real[path];
    const fakeTypes = fake[path];
    if (realTypes !== undefined && fakeTypes !== undefined) {
      const realValues = realTypes.filter((type) => type !== "null");
      const fakeValues = fakeTypes.filter((type) => type !== "null");
      // Null on one side only: a nullable field, not drift.
      if (realValues.length === 0 || fakeValues.length === 0) continue;
      if (showTypes(realValues) !== showTypes(fakeValues)) {
        differences.push(`${showPath(path)}: ${showTypes(realTypes)} vs ${showTypes(fakeTypes)}`);
      }
      continue;
    }
    const [side, types, other] = realTypes !== undefined
      ? ["real", realTypes, fake] as const
      : ["fake", fakeTypes!, real] as const;
    if (missingMatters(path, other)) {
      differences.push(`${showPath(path)}: only in ${side} (${showTypes(types)})`);
    }
  }
  return differences;
}

/**
 * Whether `path`, absent from `shape`, is a real omission: only when `shape` has its parent as an object (a key
 * the object lacks). An array element path is never one: absent elements mean an empty array, and a parent of
 * another type is already reported as a type difference.
 */
function missingMatters(path: string, shape: Shape): boolean {
  const { parent, element } = parentOf(path);
  if (element) return false;
  return shape[parent]?.includes("object") ?? false;
}
