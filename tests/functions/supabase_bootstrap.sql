-- What a Supabase database has before our migrations run, as supabase/postgres
-- (init scripts) and supabase/auth (migrations) define it, so the tests run
-- the migrations on the privileges they meet in production:
--   * the API roles anon, authenticated and service_role (bypasses RLS), and
--     authenticator, the login role PostgREST uses and switches from;
--   * supabase_auth_admin, Supabase Auth's role, owning auth.users;
--   * the auth schema: auth.users, auth.uid() / auth.role() / auth.jwt()
--     reading the claims PostgREST sets (request.jwt.claims, JSON; the legacy
--     request.jwt.claim.<name> settings as a fallback);
--   * Supabase's default privileges: every table, sequence and function the
--     migration-running role creates in public is granted to anon,
--     authenticated and service_role (ALL), unless the migration revokes it.
-- Idempotent: the tests run it again in other databases of the same cluster.
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  -- Supabase Auth's own role: it owns auth.users and deletes users as itself.
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin nologin noinherit;
  end if;
end $$;
-- Older bootstraps created the roles with other attributes (.dev/ keeps them).
alter role anon nologin noinherit;
alter role authenticated nologin noinherit;
alter role service_role nologin noinherit bypassrls;
grant anon, authenticated, service_role to authenticator;

create schema if not exists auth;
create table if not exists auth.users (id uuid primary key, email text);
grant usage on schema auth to supabase_auth_admin;
alter table auth.users owner to supabase_auth_admin;

create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claims', true), ''),
    nullif(current_setting('request.jwt.claim', true), '')
  )::jsonb
$$;

create or replace function auth.uid() returns uuid language sql stable as $$
  select nullif(coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
    current_setting('request.jwt.claim.sub', true)
  ), '')::uuid
$$;

create or replace function auth.role() returns text language sql stable as $$
  select nullif(coalesce(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role',
    current_setting('request.jwt.claim.role', true)
  ), '')::text
$$;

grant usage on schema public to anon, authenticated, service_role;
grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- Issued as the role that then runs the migrations (postgres, as on Supabase).
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
