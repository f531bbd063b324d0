// A Deno script as a user writes it against the installed package (run with
// --allow-read, which init()'s fetch of the file: URL needs, and
// --allow-net=127.0.0.1): the same refresh and rejection as the Node app.
import init, { TokenManager, TokenManagerError } from "oauth-token-manager";
import { MemoryStore } from "oauth-token-manager/stores/memory";

const base = Deno.args[0];
await init();

const store = new MemoryStore();
const manager = new TokenManager(
  {
    providers: {
      google: { clientId: "app", clientSecret: "secret", tokenUrl: `${base}/ok` },
      spotify: { clientId: "app", clientSecret: "secret", tokenUrl: `${base}/dead` },
    },
    encryptionKeys: [{ id: "k1", key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" }],
  },
  store,
);
await manager.storeTokens("user-1", "google", {
  accessToken: "stale",
  refreshToken: "rt-google",
  expiresIn: 0,
});
await manager.storeTokens("user-1", "spotify", {
  accessToken: "stale",
  refreshToken: "rt-spotify",
  expiresIn: 0,
});

const token = await manager.getValidToken("user-1", "google");
let error: unknown;
try {
  await manager.getValidToken("user-1", "spotify");
} catch (e) {
  error = e;
}
const e = error as TokenManagerError | undefined;
console.log(JSON.stringify({
  accessToken: token.accessToken,
  refreshed: token.refreshed,
  events: store.events.map((e) => e.kind),
  error: {
    isTokenManagerError: error instanceof TokenManagerError,
    isError: error instanceof Error,
    name: e?.name,
    code: e?.code,
    requiresReauth: e?.requiresReauth,
    httpStatus: e?.httpStatus,
  },
}));
