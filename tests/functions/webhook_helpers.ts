// What the webhook tests share: secrets, the configuration from variables.
import { readWebhookConfig } from "../../supabase/functions/_shared/ops/webhook_config.ts";

export const newSecret = (bytes = 32) =>
  "whsec_" + btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))));

export const config = (vars: Record<string, string | undefined>) => readWebhookConfig((n) => vars[n]);

export const endpointsVar = (list: { url: string; secret: string | string[]; types?: string[] }[]) =>
  JSON.stringify(list);
