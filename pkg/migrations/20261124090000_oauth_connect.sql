-- Connections for every provider: who connected (the provider's account), and
-- the connect flow's attempts (RFC 6749 §4.1 with PKCE). Safe to run again.

-- The provider account a connection belongs to, from its user-info endpoint.
alter table public.oauth_connections
  add column if not exists account_id text,
  add column if not exists account_email text,
  add column if not exists account_name text;

-- A connect in progress, found by the SHA-256 of its `state`: bound to the
-- user, the provider, the PKCE verifier (sealed), the redirect URI and the
-- page to return to. The callback claims it once (claimed_at) and attaches the
-- sealed code and the hash of the one-time ticket the app completes it with.
create table if not exists public.oauth_connect_attempts (
  state_hash text primary key,
  user_id uuid not null,
  provider text not null,
  verifier_sealed text not null,
  redirect_uri text not null,
  return_to text not null,
  scopes text[] not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  code_sealed text,
  ticket_hash text unique,
  claimed_at timestamptz
);

-- Every new attempt deletes those expired for more than a day.
-- The foreign key to auth.users cascades on delete: index it.
create index if not exists oauth_connect_attempts_user_idx
  on public.oauth_connect_attempts (user_id);

create index if not exists oauth_connect_attempts_expires_idx
  on public.oauth_connect_attempts (expires_at);

alter table public.oauth_connect_attempts enable row level security;

do $$
begin
  -- Attempts die with their user on Supabase (auth.users exists there).
  if to_regclass('auth.users') is not null
     and not exists (select 1 from pg_constraint where conname = 'oauth_connect_attempts_user_fk') then
    alter table public.oauth_connect_attempts
      add constraint oauth_connect_attempts_user_fk
      foreign key (user_id) references auth.users (id) on delete cascade;
  end if;

  -- Least privilege, as 20261123090000_oauth_roles_least_privilege.sql leaves
  -- the other tables: Supabase's default privileges granted the API roles
  -- everything on the new table; they get nothing of it (no policy either),
  -- and a signed-in user may read the account of their own connections.
  if exists (select 1 from pg_roles where rolname = 'authenticated')
     and exists (select 1 from pg_roles where rolname = 'anon') then
    execute 'revoke all on table public.oauth_connect_attempts from public, anon, authenticated';
    execute 'grant select (account_id, account_email, account_name) on public.oauth_connections
      to authenticated';
  end if;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    execute 'grant all on table public.oauth_connect_attempts to service_role';
  end if;
end
$$;
