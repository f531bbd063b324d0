-- oauth-token-manager: provider connections with sealed tokens, and refresh events.
-- Instants are timestamptz; the TypeScript store converts them to epoch milliseconds.

create table if not exists public.oauth_connections (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  provider text not null,
  -- AES-256-GCM envelopes (v1.<kid>.<nonce>.<ciphertext>), bound to user, provider and column.
  access_token_sealed text,
  refresh_token_sealed text,
  expires_at timestamptz,
  refresh_token_expires_at timestamptz,
  scope text,
  status text not null default 'connected'
    check (status in ('connected', 'token_expired', 'needs_reauth', 'error', 'disconnected')),
  last_error_code text,
  last_error_message text,
  last_error_at timestamptz,
  failure_count integer not null default 0 check (failure_count >= 0),
  cooldown_until timestamptz,
  -- The marker browsers compare (X-Token-Refreshed-At).
  token_refreshed_at timestamptz,
  -- Moves on every token write; the lease protocol compares it.
  version bigint not null default 0,
  lease_owner text,
  lease_until timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint oauth_connections_user_provider_key unique (user_id, provider)
);

-- The background refresher scans by expiry.
create index if not exists oauth_connections_expiring_idx
  on public.oauth_connections (expires_at)
  where refresh_token_sealed is not null and status not in ('needs_reauth', 'disconnected');

create table if not exists public.oauth_refresh_events (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  provider text not null,
  kind text not null,
  code text,
  message text,
  at timestamptz not null,
  duration_ms integer,
  attempts integer,
  rotated boolean,
  scopes_added text[] not null default '{}',
  scopes_removed text[] not null default '{}',
  instance text not null
);

create index if not exists oauth_refresh_events_user_idx
  on public.oauth_refresh_events (user_id, provider, at desc);

-- Connections die with their user on Supabase (auth.users exists there).
-- Added NOT VALID, then validated: a table that already held rows for users
-- deleted since (an earlier system's) would otherwise fail the whole push.
-- Such rows are left for the operator, named in a notice; new rows are
-- checked either way.
do $$
declare
  orphans bigint;
begin
  if to_regclass('auth.users') is not null
     and not exists (select 1 from pg_constraint where conname = 'oauth_connections_user_fk') then
    alter table public.oauth_connections
      add constraint oauth_connections_user_fk foreign key (user_id) references auth.users (id)
      on delete cascade not valid;
    select count(*) into orphans from public.oauth_connections c
     where not exists (select 1 from auth.users u where u.id = c.user_id);
    if orphans = 0 then
      alter table public.oauth_connections validate constraint oauth_connections_user_fk;
    else
      raise notice 'oauth_connections has % row(s) of users that no longer exist: delete them (delete from public.oauth_connections c where not exists (select 1 from auth.users u where u.id = c.user_id)), then: alter table public.oauth_connections validate constraint oauth_connections_user_fk', orphans;
    end if;
  end if;
end
$$;

-- Row-level security: a signed-in user reads only the non-secret status of
-- their own connections and their own events; no role but service_role (and
-- the table owner, which the edge functions connect as) reads sealed tokens.
alter table public.oauth_connections enable row level security;
alter table public.oauth_refresh_events enable row level security;

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'authenticated') then
    execute 'revoke all on public.oauth_connections from public';
    execute 'revoke all on public.oauth_refresh_events from public';
    execute 'revoke all on public.oauth_connections from anon, authenticated';
    execute 'revoke all on public.oauth_refresh_events from anon, authenticated';
    execute 'grant select (id, user_id, provider, expires_at, refresh_token_expires_at, scope, status,
      last_error_code, last_error_message, last_error_at, failure_count, cooldown_until,
      token_refreshed_at, created_at, updated_at) on public.oauth_connections to authenticated';
    execute 'grant select on public.oauth_refresh_events to authenticated';
    -- Run again after 20261124090000_oauth_connect.sql: its account columns too.
    if exists (select 1 from information_schema.columns
                where table_schema = 'public' and table_name = 'oauth_connections'
                  and column_name = 'account_id') then
      execute 'grant select (account_id, account_email, account_name) on public.oauth_connections
        to authenticated';
    end if;
    execute 'drop policy if exists oauth_connections_own_status on public.oauth_connections';
    execute 'create policy oauth_connections_own_status on public.oauth_connections
      for select to authenticated using (user_id = auth.uid())';
    execute 'drop policy if exists oauth_refresh_events_own on public.oauth_refresh_events';
    execute 'create policy oauth_refresh_events_own on public.oauth_refresh_events
      for select to authenticated using (user_id = auth.uid())';
  end if;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    execute 'grant all on public.oauth_connections, public.oauth_refresh_events to service_role';
  end if;
end
$$;
