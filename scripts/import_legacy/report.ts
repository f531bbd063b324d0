// make import-legacy's report: what was read, imported, already bound or not
// imported (by hashed user id), and its printed form.
import type { Field } from "./sources.ts";

export type OpenFailure = "wrong key" | "malformed" | "not utf8";

export interface Failure {
  user: string;
  provider: string;
  ref: string | null;
  field: Field | null;
  reason: string;
}

export interface Report {
  dryRun: boolean;
  source: string;
  read: number;
  imported: number;
  alreadyBound: number;
  couldNotOpen: Record<OpenFailure, number>;
  couldNotWrite: Record<string, number>;
  skipped: Record<string, number>;
  /** The rows that could not be opened or written, by hashed user id and provider. */
  failures: Failure[];
}

export const failedCount = (r: Report) =>
  Object.values(r.couldNotOpen).reduce((a, b) => a + b, 0) +
  Object.values(r.couldNotWrite).reduce((a, b) => a + b, 0);

export function formatReport(r: Report): string {
  const pad = (s: string) => s.padEnd(16);
  const detail = (m: Record<string, number>) =>
    Object.entries(m).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const lines = [
    `legacy import${r.dryRun ? " (dry run: nothing written)" : ""} from ${r.source}`,
    `  ${pad("read")}${r.read}`,
    `  ${pad(r.dryRun ? "would import" : "imported")}${r.imported}`,
    `  ${pad("already bound")}${r.alreadyBound}`,
    `  ${pad("could not open")}${sum(r.couldNotOpen)}${
      sum(r.couldNotOpen) ? `  (${detail(r.couldNotOpen)})` : ""
    }`,
    `  ${pad("could not write")}${sum(r.couldNotWrite)}${
      sum(r.couldNotWrite) ? `  (${detail(r.couldNotWrite)})` : ""
    }`,
    `  ${pad("skipped")}${sum(r.skipped)}${sum(r.skipped) ? `  (${detail(r.skipped)})` : ""}`,
  ];
  if (r.failures.length > 0) {
    lines.push("rows not imported (user = first 12 hex digits of SHA-256 of the user id, as in the logs):");
    for (const f of r.failures) {
      const where = f.ref ? `${f.ref}  ` : "";
      lines.push(
        `  ${where}user ${f.user}  provider ${f.provider}${f.field ? `  ${f.field}` : ""}: ${f.reason}`,
      );
    }
  }
  return lines.join("\n");
}
