/**
 * The commented `.env` template `config init` writes: every variable of src/config.ts with its default,
 * commented out (tests/unit/bad_input_test.ts checks that it names every variable and parses).
 */
import { DEFAULT_PUSHER_URL } from "./config.ts";

/** The commented template `config init` writes. */
export const ENV_TEMPLATE =
  `# kick-monitor configuration. Values here are overridden by the process environment.
# Every variable is optional except the Kick app credentials, which anything that talks to Kick needs.

# App credentials from https://kick.com/settings/developer (the account needs 2FA).
KICK_CLIENT_ID=
KICK_CLIENT_SECRET=

# A real PostgreSQL server. Leave empty to use the embedded database in KICK_MONITOR_DATA_DIR.
# DATABASE_URL=postgres://user:password@127.0.0.1:5432/kick_monitor

# Embedded database, pid file and the durable event journal.
# KICK_MONITOR_DATA_DIR=./data

# Seconds between reconciliation polls of the official API.
# KICK_MONITOR_POLL_INTERVAL=60

# Seconds an offline must hold before it is recorded (with its real time).
# KICK_MONITOR_OFFLINE_GRACE=60

# Listener of the status page, the read API, /healthz and /metrics ("host:port"), or "off".
# KICK_MONITOR_HTTP=127.0.0.1:8080
# Token every route but /healthz then needs (Authorization: Bearer TOKEN, or ?token= once in a browser);
# required when KICK_MONITOR_HTTP is not a loopback address. At least 16 characters.
# KICK_MONITOR_HTTP_TOKEN=

# debug, info, warn or error; json or pretty.
# LOG_LEVEL=info
# LOG_FORMAT=json

# Kick endpoints (change only to point at a test double).
# KICK_OAUTH_URL=https://id.kick.com
# KICK_API_URL=https://api.kick.com
# KICK_WEB_URL=https://kick.com
# KICK_PUSHER_URL=${DEFAULT_PUSHER_URL}
# ("off" runs without Pusher: webhooks and the poll only.)

# Kick's official webhooks, a third source (needs a public HTTPS address that forwards to the listener, set as
# the app's webhook URL at https://kick.com/settings/developer; then: kick-monitor webhooks subscribe).
# KICK_WEBHOOK_LISTEN=off
# KICK_WEBHOOK_PATH=/kick/webhook
# KICK_WEBHOOK_PUBLIC_KEY=
# KICK_WEBHOOK_MAX_AGE=300
# KICK_WEBHOOK_PUBLIC_URL=

# Politeness toward Kick's API, which publishes no rate limits.
# KICK_API_RATE=1
# KICK_API_BATCH_SIZE=25
# KICK_API_TIMEOUT=10

# Pusher channels carried by one websocket (more sockets mean one bad socket blinds less).
# KICK_MONITOR_CHANNELS_PER_SOCKET=200

# Several monitors on one PostgreSQL database share the streamers (README "Several monitors"): each needs a
# unique name (default: hostname-pid); one that stops renewing loses its streamers after the lease TTL (seconds).
# KICK_MONITOR_INSTANCE=
# KICK_MONITOR_LEASE_TTL=15
`;
