// A Node ESM app as a user writes it against the installed package: init()
// with no argument, TokenManager over the package's MemoryStore, one refresh
// against the token endpoint given as argv[2], then a dead grant's rejection.
// Prints one JSON line for the test.
import init, { TokenManager, TokenManagerError } from "oauth-token-manager";
import { MemoryStore } from "oauth-token-manager/stores/memory";

const base = process.argv[2];
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
let error;
try {
  await manager.getValidToken("user-1", "spotify");
} catch (e) {
  error = e;
}
console.log(JSON.stringify({
  accessToken: token.accessToken,
  refreshed: token.refreshed,
  events: store.events.map((e) => e.kind),
  error: {
    isTokenManagerError: error instanceof TokenManagerError,
    isError: error instanceof Error,
    name: error?.name,
    code: error?.code,
    requiresReauth: error?.requiresReauth,
    httpStatus: error?.httpStatus,
  },
}));
