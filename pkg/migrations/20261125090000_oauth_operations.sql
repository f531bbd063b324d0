-- Operations at scale: the refresher's claim, keep-alive and warning
-- bookkeeping, its run log and per-provider breakers, the webhook outbox
-- (written by a trigger, in the same transaction as the status change that
-- causes each message), metric roll-ups and event retention. Safe to run again.

-- A refresher invocation claims a due connection until sweep_until (FOR UPDATE
-- SKIP LOCKED, then this column): parallel invocations split the work and a
-- crashed one's claims lapse. refresh_expiry_warned_for is the refresh-token
-- end a warning was given for: a new grant with another end re-arms it.
alter table public.oauth_connections
  add column if not exists sweep_until timestamptz,
  add column if not exists refresh_expiry_warned_for timestamptz;

-- Keep-alive: connections by provider and last refresh.
create index if not exists oauth_connections_keepalive_idx
  on public.oauth_connections (provider, (coalesce(token_refreshed_at, created_at)))
  where refresh_token_sealed is not null and status not in ('needs_reauth', 'disconnected');

-- Warnings: grants whose refresh token has a known end.
create index if not exists oauth_connections_refresh_expiry_idx
  on public.oauth_connections (refresh_token_expires_at)
  where refresh_token_expires_at is not null and refresh_token_sealed is not null;

-- Retention and the metrics roll-up read events by time.
create index if not exists oauth_refresh_events_at_idx on public.oauth_refresh_events (at);

-- One row per refresher invocation.
create table if not exists public.oauth_refresher_runs (
  id bigint generated always as identity primary key,
  instance text not null,
  started_at timestamptz not null,
  finished_at timestamptz,
  budget_ms integer not null,
  concurrency integer not null,
  -- done (nothing left), budget (stopped claiming before the time budget),
  -- limit (claimed its limit), breaker (what is left belongs to providers whose
  -- breaker is open), cpu (stopped claiming at its CPU budget), error (the pass
  -- itself failed); null while running.
  stopped text check (stopped in ('done', 'budget', 'limit', 'breaker', 'cpu', 'error')),
  checked integer not null default 0,
  refreshed integer not null default 0,
  kept_alive integer not null default 0,
  failed integer not null default 0,
  failed_by_code jsonb not null default '{}',
  skipped_by_breaker integer not null default 0,
  breakers jsonb not null default '{}',
  remaining integer,
  warned integer not null default 0,
  webhooks_delivered integer not null default 0,
  webhooks_failed integer not null default 0,
  events_deleted integer not null default 0
);

create index if not exists oauth_refresher_runs_started_idx
  on public.oauth_refresher_runs (started_at desc);

-- A provider the refresher stopped calling (a 429 until its Retry-After, or a
-- run of 5xx): later invocations, in any isolate, skip it until open_until.
create table if not exists public.oauth_provider_breakers (
  provider text primary key,
  open_until timestamptz not null,
  reason text not null,
  opened_at timestamptz not null
);

-- Standard Webhooks messages. id is the webhook-id (stable across retries, so
-- receivers drop duplicates); body is the exact JSON that is signed and sent,
-- and never carries a token. delivered_to lists the endpoints (by hash) that
-- answered 2xx; the message is delivered when every configured endpoint has.
create table if not exists public.oauth_webhook_outbox (
  id text primary key,
  type text not null,
  user_id uuid,
  provider text,
  body text not null,
  created_at timestamptz not null default now(),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  delivered_to text[] not null default '{}',
  delivered_at timestamptz,
  failed_at timestamptz,
  last_error text
);

create index if not exists oauth_webhook_outbox_pending_idx
  on public.oauth_webhook_outbox (next_attempt_at)
  where delivered_at is null and failed_at is null;

create index if not exists oauth_webhook_outbox_created_idx
  on public.oauth_webhook_outbox (created_at);

-- Refresh outcomes rolled up from events before retention deletes them, so
-- the metrics' counters never go down: count and duration per provider, kind,
-- code and duration bucket (the bounds are the metrics module's).
create table if not exists public.oauth_metrics_rollup (
  provider text not null,
  kind text not null,
  code text not null default '',
  bucket smallint not null,
  count bigint not null default 0,
  duration_ms_sum bigint not null default 0,
  primary key (provider, kind, code, bucket)
);

-- Events before rolled_until are in the roll-up; later ones are counted live.
create table if not exists public.oauth_metrics_state (
  id boolean primary key default true check (id),
  rolled_until timestamptz not null default '-infinity'
);
insert into public.oauth_metrics_state default values on conflict do nothing;

-- The message a status change sends, in the transaction that makes it. The
-- trigger fires only on statements that set status or the warning (not on the
-- refresher's claims, which set sweep_until alone).
-- security definer here too (see 20261126090000): `create or replace` resets
-- what it does not state, so running this file again would otherwise undo it.
create or replace function public.oauth_connection_webhook() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  kind text;
  prev text;
  cur text;
  r public.oauth_connections;
begin
  if tg_op = 'DELETE' then
    r := old;
    prev := old.status;
    cur := 'disconnected';
    if old.status <> 'disconnected' then kind := 'connection.disconnected'; end if;
  else
    r := new;
    cur := new.status;
    if tg_op = 'INSERT' then
      if new.status = 'connected' then kind := 'connection.connected'; end if;
    elsif new.status is distinct from old.status then
      prev := old.status;
      kind := case new.status
        when 'connected' then
          case when old.status in ('error', 'token_expired') then 'connection.recovered'
               else 'connection.connected' end
        when 'needs_reauth' then 'connection.needs_reauth'
        when 'disconnected' then 'connection.disconnected'
      end;
    elsif new.refresh_expiry_warned_for is not null
          and new.refresh_expiry_warned_for is distinct from old.refresh_expiry_warned_for then
      kind := 'connection.refresh_token_expiring';
    end if;
  end if;
  if kind is null then
    return null;
  end if;
  insert into public.oauth_webhook_outbox (id, type, user_id, provider, body)
  values (
    'msg_' || replace(gen_random_uuid()::text, '-', ''),
    kind,
    r.user_id,
    r.provider,
    jsonb_build_object(
      'type', kind,
      'timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'data', jsonb_strip_nulls(jsonb_build_object(
        'userId', r.user_id,
        'provider', r.provider,
        'status', cur,
        'previousStatus', prev,
        'code', case when cur in ('needs_reauth', 'error') then r.last_error_code end,
        'accountId', r.account_id,
        'refreshTokenExpiresAt', case when kind = 'connection.refresh_token_expiring' then
          to_char(r.refresh_token_expires_at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end
      ))
    )::text
  );
  return null;
end
$$;

drop trigger if exists oauth_connection_webhook on public.oauth_connections;
create trigger oauth_connection_webhook
  after insert or delete or update of status, refresh_expiry_warned_for on public.oauth_connections
  for each row execute function public.oauth_connection_webhook();

alter table public.oauth_refresher_runs enable row level security;
alter table public.oauth_provider_breakers enable row level security;
alter table public.oauth_webhook_outbox enable row level security;
alter table public.oauth_metrics_rollup enable row level security;
alter table public.oauth_metrics_state enable row level security;

-- Least privilege, as 20261123090000_oauth_roles_least_privilege.sql leaves
-- the other objects: the API roles get nothing of these (operators read them
-- through the service-only functions), service_role everything.
do $$
declare
  t text;
begin
  foreach t in array array['oauth_refresher_runs', 'oauth_provider_breakers', 'oauth_webhook_outbox',
                           'oauth_metrics_rollup', 'oauth_metrics_state'] loop
    execute format('revoke all on table public.%I from public', t);
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
      execute format('revoke all on table public.%I from anon, authenticated', t);
    end if;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant all on table public.%I to service_role', t);
    end if;
  end loop;
  execute 'revoke all on sequence public.oauth_refresher_runs_id_seq from public';
  execute 'revoke all on function public.oauth_connection_webhook() from public';
  if exists (select 1 from pg_roles where rolname = 'authenticated') then
    execute 'revoke all on sequence public.oauth_refresher_runs_id_seq from anon, authenticated';
    execute 'revoke all on function public.oauth_connection_webhook() from anon, authenticated';
  end if;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    execute 'grant all on sequence public.oauth_refresher_runs_id_seq to service_role';
    execute 'grant all on function public.oauth_connection_webhook() to service_role';
  end if;
end
$$;
