/**
 * DATABASE_URL, parsed once: what to hand postgres.js, where the server is (for the handshake probe and for
 * messages), and which secret to mask. Pure, no I/O.
 *
 * Besides `postgres://user:password@host:port/db`, the libpq form for a Unix socket is accepted:
 * `postgres:///db?host=/var/run/postgresql` or `postgres://user@/db?host=/dir`. WHATWG URL cannot parse an
 * empty host after userinfo, and postgres.js would send an unknown `host` query parameter to the server as a
 * setting ("unrecognized configuration parameter"), so both are rewritten here: the socket directory becomes
 * postgres.js's `host` option, which it reads as a path when it contains "/".
 */

/** Where the server listens. */
export type DatabaseEndpoint =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** A parsed DATABASE_URL. */
export interface DatabaseTarget {
  /** The URL to give postgres.js (the socket form rewritten). */
  driverUrl: string;
  /** postgres.js options that override the URL: the socket directory as `host`. */
  driverOptions: { host?: string };
  /** The single server to probe; null for a multi-host URL (`h1:5432,h2:5432`). */
  endpoint: DatabaseEndpoint | null;
  /** Where the server is, for messages: `127.0.0.1:5432`, or the socket's path. Never the user or password. */
  address: string;
  /** The database name. */
  database: string;
  /** The password, percent-decoded; null when there is none. */
  password: string | null;
}

const DEFAULT_PORT = 5432;
const URL_PATTERN = /^(postgres(?:ql)?):\/\/([^/?#]*)(.*)$/i;

/**
 * Parses a DATABASE_URL. Throws an Error whose message never contains the URL (it may hold a password) when
 * the value is not a usable `postgres://` or `postgresql://` URL.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const match = URL_PATTERN.exec(url.trim());
  if (match === null) throw new Error("expected a postgres:// or postgresql:// URL");
  const [, scheme, authority, rest] = match;
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at) : "";
  const hosts = at >= 0 ? authority.slice(at + 1) : authority;
  // No host (the socket form), or only a port: WHATWG URL needs one to parse the rest.
  const noHost = hosts === "" || hosts.startsWith(":");
  const parseable = `${scheme}://${at >= 0 ? `${userinfo}@` : ""}${
    hosts.includes(",") ? "localhost" : noHost ? `localhost${hosts}` : hosts
  }${rest}`;
  let parsed: URL;
  try {
    parsed = new URL(parseable);
  } catch {
    throw new Error("expected a postgres:// or postgresql:// URL");
  }
  const password = parsed.password === "" ? null : safeDecode(parsed.password);
  const user = safeDecode(parsed.username);
  const database = safeDecode(parsed.pathname.replace(/^\//, "")) || user || "postgres";
  const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port);

  const hostParameter = parsed.searchParams.get("host");
  if (hostParameter !== null) {
    if (hostParameter === "") throw new Error('the "host" parameter is empty');
    // As in libpq, the parameter wins over a host before the path.
    parsed.searchParams.delete("host");
    const driverUrl = `${scheme}://${at >= 0 ? `${userinfo}@` : ""}localhost${
      parsed.port === "" ? "" : `:${parsed.port}`
    }${parsed.pathname}${parsed.search}${parsed.hash}`;
    if (hostParameter.startsWith("/")) {
      const path = `${hostParameter.replace(/\/+$/, "")}/.s.PGSQL.${port}`;
      return {
        driverUrl,
        driverOptions: { host: hostParameter },
        endpoint: { transport: "unix", path },
        address: path,
        database,
        password,
      };
    }
    return {
      driverUrl,
      driverOptions: { host: hostParameter },
      endpoint: { transport: "tcp", hostname: hostParameter, port },
      address: `${hostParameter}:${port}`,
      database,
      password,
    };
  }
  if (hosts.includes(",")) {
    // postgres.js tries each in turn; probing is left to it.
    return {
      driverUrl: url,
      driverOptions: {},
      endpoint: null,
      address: hosts,
      database,
      password,
    };
  }
  const hostname = parsed.hostname.replace(/^\[|\]$/g, "");
  return {
    driverUrl: noHost ? parseable : url,
    driverOptions: {},
    endpoint: { transport: "tcp", hostname, port },
    address: `${parsed.hostname}:${port}`,
    database,
    password,
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
