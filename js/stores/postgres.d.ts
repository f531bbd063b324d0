// Types of the Postgres store (oauth-token-manager/stores/postgres).
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
 * What the store needs from a client: postgres.js's `sql` (its `unsafe`), or
 * node-postgres's `Pool` / `Client` (`query(text, values)` answering `{ rows }`).
 */
export type SqlClient =
  | { unsafe(query: string, parameters?: unknown[]): PromiseLike<readonly unknown[]> }
  | { query(text: string, values?: unknown[]): PromiseLike<{ rows: unknown[] }> };

/**
 * The ConnectionRow projection of public.oauth_connections the store's
 * methods return, for queries of your own (e.g. a refresher's claim whose rows
 * go to TokenManager.getValidTokenFor).
 */
export declare const ROW_COLUMNS: string;

/**
 * The store contract in SQL over the tables of the package's migrations
 * (`oauth-token-manager/migrations/*.sql`), one statement per method; the
 * refresh lease is a row lease on the database clock, shared by every process.
 * Database failures reject with code `STORAGE`.
 */
export declare class PostgresStore implements TokenStore {
  /** With postgres.js behind a transaction pooler, create it with `{ prepare: false }`. */
  constructor(sql: SqlClient);
  /** Rejects with code `SCHEMA_MISMATCH` naming each missing table or column and its migration. */
  checkSchema(): Promise<void>;
  load(a: { userId: string; provider: string }): Promise<ConnectionRow | null>;
  tryLease(
    a: { userId: string; provider: string; owner: string; now: number; until: number },
  ): Promise<LeaseOutcome>;
  commitRefresh(a: { write: TokenWrite; expectedVersion: number; event?: RefreshEvent }): Promise<boolean>;
  recordFailure(f: FailureWrite): Promise<void>;
  releaseLease(a: { userId: string; provider: string; owner: string }): Promise<void>;
  saveTokens(w: TokenWrite): Promise<ConnectionRow>;
  disconnect(a: { userId: string; provider: string; at: number }): Promise<void>;
  /** commitRefresh records the event it is given. */
  readonly commitsEvents: true;
  appendEvent(e: RefreshEvent): Promise<void>;
  listExpiring(
    a: { before: number; now: number; limit: number },
  ): Promise<{ userId: string; provider: string }[]>;
  putConnect(a: ConnectAttempt): Promise<void>;
  claimConnect(
    a: { stateHash: string; codeSealed: string | null; ticketHash: string | null; now: number },
  ): Promise<{ outcome: "claimed" | "used"; attempt: ConnectAttempt } | { outcome: "missing" }>;
  takeConnect(a: { ticketHash: string }): Promise<ConnectAttempt | null>;
  loadAll(a: { userId: string }): Promise<ConnectionRow[]>;
}

/** What the store needs and the database lacks, as `table` or `table.column`; empty when migrated. */
export declare function missingSchema(sql: SqlClient): Promise<string[]>;

/** The migration file (in `oauth-token-manager/migrations/`) that adds a `table` or `table.column`. */
export declare function migrationFor(item: string): string;
/** Connects in progress kept per user; one more forgets the oldest. */
export declare const MAX_CONNECTS_PER_USER: number;
