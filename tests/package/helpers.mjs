// Helpers of the package test (package.test.mjs): running commands, loopback
// servers standing in for a token endpoint, the edge functions and a static
// site, and reading the READMEs' TypeScript samples.
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { extname, join } from "node:path";

export function run(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export async function mustRun(cmd, args, options) {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The last line of a child's stdout, as JSON. */
export function lastJson(stdout) {
  return JSON.parse(stdout.trim().split("\n").at(-1));
}

export function freePort() {
  return new Promise((resolve) => {
    const s = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** An http server on a loopback port; `handler(req, body)` → { status, headers?, body? }. */
export async function serve(handler) {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const r = await handler(req, body);
      res.writeHead(r.status, r.headers ?? {});
      res.end(r.body ?? "");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A provider's token endpoint: /ok refreshes (served-N), /dead answers invalid_grant. */
export function tokenEndpoint() {
  const calls = [];
  return {
    calls,
    handler(req, body) {
      calls.push({ path: req.url, method: req.method, form: Object.fromEntries(new URLSearchParams(body)) });
      if (req.url === "/dead") {
        return {
          status: 400,
          headers: { "content-type": "application/json" },
          body: '{"error":"invalid_grant"}',
        };
      }
      const n = calls.filter((c) => c.path === "/ok").length;
      return {
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ access_token: `served-${n}`, token_type: "Bearer", expires_in: 3600 }),
      };
    },
  };
}

export const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type, apikey, x-client-info",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-expose-headers": "X-Token-Refreshed-At, X-Token-Connection",
};

/** A stub of the token functions the browser client calls, with CORS, and an API that echoes the bearer. */
export function functionsStub() {
  const calls = [];
  return {
    calls,
    handler(req) {
      if (req.method === "OPTIONS") return { status: 204, headers: CORS };
      calls.push({ path: req.url, method: req.method, authorization: req.headers.authorization ?? null });
      const json = (status, value, extra = {}) => ({
        status,
        headers: { ...CORS, "content-type": "application/json", ...extra },
        body: JSON.stringify(value),
      });
      if (req.url === "/refresh-google-token" && req.method === "POST") {
        const marker = new Date().toISOString();
        return json(200, {
          accessToken: "browser-token-1",
          expiresAt: Date.now() + 3_600_000,
          tokenRefreshedAt: marker,
          scope: "https://www.googleapis.com/auth/calendar.events",
          refreshed: true,
        }, { "x-token-refreshed-at": marker });
      }
      if (req.url === "/connections/spotify/token" && req.method === "POST") {
        return json(401, {
          error: "Reconnect Spotify",
          code: "REAUTH_REQUIRED",
          requiresReauth: true,
          retryable: false,
          requestId: "req-1",
        });
      }
      if (req.url === "/api/echo") return json(200, { authorization: req.headers.authorization ?? null });
      return json(404, { error: "not found", code: "NOT_FOUND" });
    },
  };
}

export const MIME = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
};

/** A static server for a built site. */
export function staticSite(dir) {
  return async (req) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = join(dir, path === "/" ? "index.html" : path);
    if (!file.startsWith(dir)) return { status: 403 };
    try {
      return {
        status: 200,
        headers: { "content-type": MIME[extname(file)] ?? "application/octet-stream" },
        body: await readFile(file),
      };
    } catch {
      return { status: 404 };
    }
  };
}

/** Every file under dir, relative. */
export async function files(dir, prefix = "") {
  const out = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...await files(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/** The ```ts blocks of a Markdown file: [{ line, code }] with `line` the block's first code line. */
export function tsBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].startsWith("```")) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return blocks;
}

/** Deno's npm: specifiers, as a Node project resolves them. */
export const fromNpm = (code) => code.replace(/(["'])npm:((?:@[^/"']+\/)?[^@/"']+)(?:@[^/"']*)?/g, "$1$2");
