-- Webhook endpoints that answered 410 Gone. Standard Webhooks: "Sender should
-- disable the webhook endpoint, and stop sending it messages." Endpoints are
-- configured in WEBHOOK_ENDPOINTS (an operator's secret), so the delivery
-- records the refusal here, by endpoint id (the first 16 hex digits of
-- SHA-256 of the URL, as delivered_to holds it), and sends that endpoint
-- nothing more. Deleting the row enables it again; a new URL is a new endpoint.
create table if not exists public.oauth_webhook_endpoints_disabled (
  endpoint_id text primary key,
  disabled_at timestamptz not null,
  -- The HTTP status that disabled it (410), never a URL or body.
  reason text not null
);

alter table public.oauth_webhook_endpoints_disabled enable row level security;

-- Least privilege, as the other operations tables: nothing for the API roles.
revoke all on table public.oauth_webhook_endpoints_disabled from public;
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'authenticated') then
    revoke all on table public.oauth_webhook_endpoints_disabled from anon, authenticated;
  end if;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    grant all on table public.oauth_webhook_endpoints_disabled to service_role;
  end if;
end
$$;
