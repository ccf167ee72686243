/** The notification services, one line each: adding a service is one file in this folder plus one line here. */
import type { TargetKind } from "../types.ts";
import type { NotificationService } from "./http_sink.ts";
import { appriseService } from "./apprise.ts";
import { consoleService } from "./console.ts";
import { discordService } from "./discord.ts";
import { ntfyService } from "./ntfy.ts";
import { slackService } from "./slack.ts";
import { telegramService } from "./telegram.ts";
import { webhookService } from "./webhook.ts";

export type { NotificationService, ServiceContext } from "./http_sink.ts";

/** Every service, by target kind. */
export const SERVICES: Readonly<Record<TargetKind, NotificationService>> = {
  discord: discordService,
  slack: slackService,
  telegram: telegramService,
  ntfy: ntfyService,
  webhook: webhookService,
  apprise: appriseService,
  console: consoleService,
};
