-- The webhook trigger writes to the outbox as the table's owner. A user's
-- connections are deleted by the cascade from auth.users, and that cascade's
-- row triggers fire as the role that deleted the user: Supabase Auth's
-- supabase_auth_admin, which holds nothing on our tables. As an invoker's
-- function the insert was refused, and with it the user's deletion ("Database
-- error deleting user"), leaving their sealed tokens in place.
--
-- security definer with an empty search_path (set in
-- 20261125090000_oauth_operations.sql: every name in it is qualified), and
-- callable by no one but the trigger: no API role may execute it.
alter function public.oauth_connection_webhook() security definer;
revoke execute on function public.oauth_connection_webhook() from public;
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'authenticated') then
    revoke execute on function public.oauth_connection_webhook() from anon, authenticated;
  end if;
end $$;
