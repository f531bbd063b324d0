// Types of the in-memory store (oauth-token-manager/stores/memory).
import type {
  ConnectAttempt,
  ConnectionRow,
  FailureWrite,
  LeaseOutcome,
  RefreshEvent,
  TokenStore,
  TokenWrite,
} from "../../pkg/oauth_token_manager.js";

/**
 * The whole store contract in one process, for tests, development and
 * single-process servers. Nothing survives a restart, and the lease only
 * covers this process: several processes need a shared store (PostgresStore).
 */
export declare class MemoryStore implements TokenStore {
  /** `maxEvents`: how many of the latest refresh events `events` keeps (default 1000). */
  constructor(options?: { maxEvents?: number });
  /** The latest refresh events, oldest first. */
  events: RefreshEvent[];
  load(a: { userId: string; provider: string }): ConnectionRow | null;
  tryLease(a: { userId: string; provider: string; owner: string; now: number; until: number }): LeaseOutcome;
  commitRefresh(a: { write: TokenWrite; expectedVersion: number; event?: RefreshEvent }): boolean;
  recordFailure(f: FailureWrite): void;
  releaseLease(a: { userId: string; provider: string; owner: string }): void;
  saveTokens(w: TokenWrite): ConnectionRow;
  disconnect(a: { userId: string; provider: string; at: number }): void;
  /** commitRefresh records the event it is given. */
  readonly commitsEvents: true;
  appendEvent(e: RefreshEvent): void;
  listExpiring(a: { before: number; now: number; limit: number }): { userId: string; provider: string }[];
  putConnect(a: ConnectAttempt): void;
  claimConnect(
    a: { stateHash: string; codeSealed: string | null; ticketHash: string | null; now: number },
  ): { outcome: "claimed" | "used"; attempt: ConnectAttempt } | { outcome: "missing" };
  takeConnect(a: { ticketHash: string }): ConnectAttempt | null;
  loadAll(a: { userId: string }): ConnectionRow[];
}
