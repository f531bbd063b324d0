// What the webhook tests share: secrets, the configuration from variables,
// the outbox as it stands.
import type { Db } from "../../supabase/functions/_shared/db.ts";
import { readWebhookConfig } from "../../supabase/functions/_shared/ops/webhook_config.ts";

export const newSecret = (bytes = 32) =>
  "whsec_" + btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))));

export const config = (vars: Record<string, string | undefined>) => readWebhookConfig((n) => vars[n]);

export const endpointsVar = (list: { url: string; secret: string | string[]; types?: string[] }[]) =>
  JSON.stringify(list);

export interface OutboxRow {
  id: string;
  type: string;
  body: string;
  attempts: number;
  delivered_to: string[];
  delivered_at: Date | null;
  failed_at: Date | null;
  next_attempt_at: Date;
  last_error: string | null;
}

/** The outbox's messages, oldest first. */
export async function outbox(db: Db): Promise<OutboxRow[]> {
  return await db.query<OutboxRow>(
    `select id, type, body, attempts, delivered_to, delivered_at, failed_at, next_attempt_at, last_error
       from public.oauth_webhook_outbox order by created_at, id`,
  );
}
