// How small the server build could get, measured rather than guessed. Builds
// the server feature three ways from a copy of the working tree's sources,
// each through the same pipeline as pkg/ (cargo release, wasm-bindgen,
// wasm-opt with Cargo.toml's flags, the glue without its whole-line comments
// and both with the short import names, as scripts/finish-pkg.mjs ships
// them), and prints each one's size after GNU gzip -9, as scripts/bench.sh
// measures pkg/:
//
// - as is: the sources unchanged (pkg/'s build, for reference);
// - synchronous: the same orchestration with every `async fn` made a plain
//   function and every `.await` dropped (the store and fetch called as if
//   they answered at once), so no future, executor or promise binding is
//   left. It is what the orchestration costs as straight-line code: about
//   what making the server manager sans-IO (its decisions in step functions,
//   the I/O in a JavaScript driver, as the browser build is) can save; a real
//   step machine adds its own states and resume code, and moves the fetch and
//   store-call plumbing out to the driver;
// - no orchestration: every async export answers at once without calling the
//   manager, and one added export calls each synchronous piece the
//   orchestration uses (the row, attempt and write conversions, status,
//   sealing, the provider requests and the parsing of their answers). It is
//   what the build weighs before any orchestration at all;
// - synchronous with AES-GCM and SHA-256 from Web Crypto: the synchronous
//   build without the aes-gcm and sha2 crates' code, the one other large
//   piece a runtime could provide.
//
// These builds are measurements only: they do not work as token managers.
// Each takes about half a minute after the first (the crates are shared).
//
//   node bench/size-bounds.mjs
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { shortenImports } from "../scripts/wasm-imports.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const wasmOptFlags = JSON.parse(
  /^wasm-opt = (\[.*\])$/m.exec(readFileSync(join(ROOT, "Cargo.toml"), "utf8"))[1],
);
const run = (cmd, args, cwd, env = {}) =>
  execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });

/** Replaces every `open … matching }` + `)` call, e.g. `future_to_promise(async move { … })`. */
function replaceCalls(text, open, replace) {
  let out = "";
  let i = 0;
  for (let j; (j = text.indexOf(open, i)) >= 0;) {
    let k = j + open.length;
    for (let depth = 1; depth > 0; k++) {
      if (text[k] === "{") depth++;
      else if (text[k] === "}") depth--;
    }
    if (text[k] !== ")") throw new Error(`${open}: no closing parenthesis`);
    out += text.slice(i, j) + replace(text.slice(j + open.length, k - 1));
    i = k + 1;
  }
  return out + text.slice(i);
}

const edit = (dir, file, f) => {
  const path = join(dir, "src", file);
  const before = readFileSync(path, "utf8");
  const after = f(before);
  if (after === before) throw new Error(`${file}: the edit changed nothing (the sources moved on?)`);
  writeFileSync(path, after);
};

/**
 * Every source file with async code (an `async fn` or an `.await`), found
 * rather than listed, so a file split off later is made synchronous too;
 * tests aside (a release build compiles none).
 */
function asyncFiles(dir) {
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(join(dir, "src", rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name !== "tests") walk(path);
      } else if (e.name.endsWith(".rs") && e.name !== "tests.rs") {
        const text = readFileSync(join(dir, "src", path), "utf8");
        if (/\basync fn\b|\.await\b/.test(text)) out.push(path);
      }
    }
  };
  walk("");
  return out;
}
// Every async export goes through `promise(async move { … })` (src/wasm/manager.rs).
const OPEN_FUTURE = "promise(async move {";

function synchronous(dir) {
  for (const f of asyncFiles(dir)) {
    edit(dir, f, (t) => t.replace(/\basync fn\b/g, "fn").replace(/\s*\.await\b/g, ""));
  }
  // A single-flight follower takes the leader's result if it is there (it
  // never is: with nothing asynchronous, no call overlaps another).
  edit(dir, "core/manager.rs", (t) =>
    t.replace(
      "Role::Follower(rx) => match rx {",
      "Role::Follower(mut rx) => match rx.try_recv().ok().flatten().ok_or(()) {",
    ));
  edit(
    dir,
    "wasm/util.rs",
    (t) =>
      t.replace(/pub fn sleep_ms\(ms: u64\) \{[^}]*\}\);[^}]*\}/, "pub fn sleep_ms(_ms: u64) {}")
        .replace("JsFuture::from(Promise::resolve(&v))", "Err(v)"),
  );
  edit(dir, "wasm/fetch.rs", (t) =>
    t.replace("let result = async {", "let result = (|| {").replace(
      /\}\)\n\s*\};\n(\s*)clear_timeout/,
      "})\n})();\n$1clear_timeout",
    ));
  edit(dir, "wasm/manager.rs", (t) =>
    replaceCalls(
      t,
      OPEN_FUTURE,
      (body) => `sync_promise((move || -> Result<JsValue, JsValue> {${body}})())`,
    ) + `
fn sync_promise(r: Result<JsValue, JsValue>) -> Promise {
    match r {
        Ok(v) => Promise::resolve(&v),
        Err(e) => Promise::reject(&e),
    }
}
`);
}

// The synchronous pieces the orchestration calls, each reached once.
const PIECES = `
fn req_js(r: &crate::core::http::HttpRequest) -> JsValue {
    let headers: Vec<String> = r.headers.iter().map(|(a, b)| format!("{a}: {b}")).collect();
    obj(&[("method", s(r.method)), ("url", s(&r.url)), ("headers", strings(&headers)), ("body", s(&r.body))])
}

#[wasm_bindgen]
impl TokenManager {
    pub fn pieces(&self, row: JsValue, status: u16, body: String, attempt: JsValue, retry: String) -> Result<js_sys::Array, JsValue> {
        use crate::core::*;
        let out = js_sys::Array::new();
        let m = &self.inner;
        let row = row_from_js(&row, "row").map_err(reject)?;
        out.push(&report_to_js(&m.report(&row.provider, Some(&row))));
        m.check_usable(&row).map_err(reject)?;
        let p = m.provider(&row.provider).map_err(reject)?;
        let tokens = m.open_tokens(&row).map_err(reject)?;
        let now = js_sys::Date::now() as i64;
        out.push(&super::store::write_to_js(&m.sealed_write(&row, &tokens, now)));
        if let Some(rt) = tokens.refresh_token.as_ref() {
            out.push(&req_js(&grant::refresh_request(p, rt)));
        }
        let resp = http::HttpResponse::new(status, body).with_header("retry-after", &retry);
        match grant::process_token_response(&resp, "x", now) {
            Ok(r) => {
                let a = grant::apply_response(&tokens, r, p, now);
                out.push(&super::store::write_to_js(&m.sealed_write(&row, &a.tokens, now)));
            }
            Err(e) => {
                out.push(&error_to_js(&e));
                let st = status::after_failure(e.code, true, false);
                let f = lifecycle::flag(&row, st, e.code, e.message.clone(), now, 1);
                out.push(&obj(&[("status", s(&f.status)), ("code", s(&f.code)), ("message", s(&f.message)), ("cooldownUntil", opt_n(f.cooldown_until))]));
            }
        }
        if let Some(n) = grant::refresh_token_in_refused(&resp) {
            out.push(&s(n.expose()));
        }
        out.push(&JsValue::from_f64(m.policy().backoff_ms(2, 0.5) as f64));
        let pk = authorize::Pkce::from_random([7; 32]);
        let scopes = vec!["a".to_string()];
        let ask = authorize::AuthorizationRequest { redirect_uri: "https://x", scopes: &scopes, state: "st", code_challenge: &pk.challenge };
        out.push(&s(&authorize::authorization_url(p, &ask).map_err(reject)?));
        let code = secret::AuthorizationCode::new("c".to_string());
        out.push(&req_js(&authorize::code_request(p, &code, "https://x", &pk.verifier)));
        if let Some(r) = revoke::revocation_request(p, &tokens) {
            out.push(&req_js(&r));
        }
        out.push(&s(revoke::revocation_outcome(p, &resp).as_str()));
        out.push(&JsValue::from_bool(revoke::ambiguous_gone(p, &resp)));
        out.push(&s(revoke::confirm_gone(Some(status)).as_str()));
        if let Some(r) = identity::userinfo_request(p, &tokens.access_token) {
            out.push(&req_js(&r));
        }
        if let Ok(a) = identity::parse_userinfo(p, &resp) {
            out.push(&opt_s(a.email.as_deref()));
        }
        out.push(&super::convert::event_to_js(&m.event(&row, "refreshed")));
        let a = super::store::attempt_from_js(&attempt, "a").map_err(reject)?;
        out.push(&super::store::attempt_to_js(&a));
        out.push(&s(&authorize::sha256_b64url(&a.state_hash)));
        Ok(out)
    }
}
`;

function noOrchestration(dir) {
  edit(
    dir,
    "wasm/manager.rs",
    (t) =>
      replaceCalls(t, OPEN_FUTURE, () => "{ let _ = &inner; Promise::resolve(&JsValue::NULL) }") + PIECES,
  );
  edit(
    dir,
    "wasm/store.rs",
    (t) => t.replace(/^fn (attempt_from_js|attempt_to_js|write_to_js)/gm, "pub(crate) fn $1"),
  );
  edit(dir, "core/mod.rs", (t) => t.replace(/^mod lifecycle;/m, "pub mod lifecycle;"));
}

// AES-GCM and SHA-256 left to the runtime (Web Crypto), as a measurement: the
// cipher calls answer with their input and the digest with its message. The
// calls into Web Crypto such a build would make are not counted (a few
// hundred bytes of bindings).
function runtimeCrypto(dir) {
  edit(dir, "core/seal.rs", (t) =>
    t.replace(
      /key\s*\.cipher\(\)\s*\.encrypt\([^;]*?\)\s*\.expect\([^)]*\);/,
      "Ok::<Vec<u8>, ()>(plaintext.as_bytes().to_vec()).unwrap();",
    ).replace(
      /key\s*\.cipher\(\)\s*\.decrypt\([^;]*?\)\s*\.map_err/,
      "Ok::<Vec<u8>, ()>(ct.clone()).map_err",
    ));
  edit(dir, "core/authorize.rs", (t) => t.replace("&Sha256::digest(input.as_bytes())", "input.as_bytes()"));
}

const JSDOC_BLOCK = /^[ \t]*\/\*\*(?:[^*]|\*(?!\/))*\*\/[ \t]*\n/gm;
const LINE_COMMENT = /^[ \t]*\/\/[^\n]*\n/gm;
const target = join(ROOT, "target", "size-bounds");
// The Makefile's PKG_RUSTFLAGS: the same AES code, and panic locations naming the same short paths as in pkg/.
const cargoHome = process.env.CARGO_HOME ?? join(homedir(), ".cargo");
const rustupHome = process.env.RUSTUP_HOME ?? join(homedir(), ".rustup");
const registry = join(cargoHome, "registry", "src");
const remap = (dir) =>
  [
    "--cfg aes_compact",
    `--remap-path-prefix=${dir}=.`,
    `--remap-path-prefix=${cargoHome}=cargo`,
    `--remap-path-prefix=${rustupHome}=rustup`,
    ...(existsSync(registry)
      ? readdirSync(registry).map((d) => `--remap-path-prefix=${join(registry, d)}=crates`)
      : []),
  ].join(" ");
// GNU gzip, as scripts/bench.sh measures pkg/ (zlib's level 9 differs by about 0.7%).
const gzip = (path) => execFileSync("gzip", ["-9c", path]).length;
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;

function build(label, change) {
  const dir = mkdtempSync(join(tmpdir(), "size-bound-"));
  try {
    for (const d of ["src", "js"]) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    for (const f of ["Cargo.toml", "Cargo.lock"]) cpSync(join(ROOT, f), join(dir, f));
    change?.(dir);
    try {
      run(
        "cargo",
        [
          "build",
          "--quiet",
          "--lib",
          "--release",
          "--target",
          "wasm32-unknown-unknown",
          "--no-default-features",
          "--features",
          "server",
        ],
        dir,
        { CARGO_TARGET_DIR: target, RUSTFLAGS: remap(dir) },
      );
    } catch (e) {
      throw new Error(`${label}: the edited sources do not build:\n${e.stderr}`);
    }
    const out = join(dir, "out");
    run("wasm-bindgen", [
      "--target",
      "web",
      "--out-dir",
      out,
      join(target, "wasm32-unknown-unknown", "release", "oauth_token_manager.wasm"),
    ], dir);
    run(
      "wasm-opt",
      [...wasmOptFlags, join(out, "oauth_token_manager_bg.wasm"), "-o", join(out, "opt.wasm")],
      dir,
    );
    const js = readFileSync(join(out, "oauth_token_manager.js"), "utf8").replace(JSDOC_BLOCK, "").replace(
      LINE_COMMENT,
      "",
    );
    const short = shortenImports(readFileSync(join(out, "opt.wasm")), js);
    writeFileSync(join(out, "opt.wasm"), short.wasm);
    writeFileSync(join(out, "glue.js"), short.glue);
    const wasm = gzip(join(out, "opt.wasm"));
    const glue = gzip(join(out, "glue.js"));
    console.log(
      `  ${label.padEnd(44)} .wasm ${kb(wasm).padStart(8)}   glue ${kb(glue).padStart(7)}   together ${
        kb(wasm + glue).padStart(8)
      }`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log("== the server build's bounds (gzip -9; builds that only measure, see bench/size-bounds.mjs)");
build("as is (pkg/'s build)");
build("orchestration synchronous (no futures)", synchronous);
build("synchronous, AES-GCM and SHA-256 from Web Crypto", (dir) => (synchronous(dir), runtimeCrypto(dir)));
build("no orchestration (its synchronous pieces)", noOrchestration);
