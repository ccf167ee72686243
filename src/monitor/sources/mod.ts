/**
 * The sources the daemon runs, in start order (contracts.ts). A new source is one file exporting a
 * SourceFactory, plus one line here.
 */
import type { SourceFactory } from "../contracts.ts";
import { pollSource } from "./poll.ts";
import { pusherSource } from "./pusher_source.ts";
import { webhookSource } from "./webhook_source.ts";

export const SOURCES: readonly SourceFactory[] = [
  pusherSource,
  pollSource,
  webhookSource,
];
