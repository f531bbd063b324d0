// Where a build's bytes go: function bodies grouped by the crate (for this
// crate, the module) their names say they come from, from a build that keeps
// its name section (same flags as pkg/, plus names). Sizes are before gzip.
//
//   node bench/wasm-sizes.mjs <named .wasm> [rows]
import { readFileSync } from "node:fs";

const bytes = readFileSync(process.argv[2]);
const rows = Number(process.argv[3] ?? 14);
let p = 8;
const leb = () => {
  let r = 0, shift = 0, b;
  do {
    b = bytes[p++];
    r += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return r;
};
const names = new Map();
const bodies = [];
let imported = 0;
let dataBytes = 0;
while (p < bytes.length) {
  const id = bytes[p++];
  const len = leb();
  const end = p + len;
  if (id === 2) { // imports: function imports take the first indices
    const limits = () => {
      const flag = bytes[p++];
      leb();
      if (flag & 1) leb();
    };
    for (let n = leb(); n > 0; n--) {
      for (let s = 0; s < 2; s++) {
        const l = leb(); // module, then field name
        p += l;
      }
      const kind = bytes[p++];
      if (kind === 0) (leb(), imported++);
      else if (kind === 1) (p++, limits());
      else if (kind === 2) limits();
      else if (kind === 3) p += 2;
      else if (kind === 4) (p++, leb());
    }
  } else if (id === 10) {
    for (let n = leb(); n > 0; n--) {
      const size = leb();
      bodies.push(size);
      p += size;
    }
  } else if (id === 11) {
    dataBytes = len;
  } else if (id === 0) {
    const nl = leb();
    const name = bytes.subarray(p, p + nl).toString();
    p += nl;
    if (name === "name") {
      while (p < end) {
        const sub = bytes[p++];
        const sl = leb();
        const se = p + sl;
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) {
            const idx = leb();
            const l = leb();
            names.set(idx, bytes.subarray(p, p + l).toString());
            p += l;
          }
        }
        p = se;
      }
    }
  }
  p = end;
}

function group(name) {
  if (!name) return "(unnamed)";
  if (/shim|^__wbg|^__wbindgen|^__externref|externref|_new$/.test(name) && !name.includes("::")) {
    return "wasm-bindgen exports and shims";
  }
  if (/^core(\[[0-9a-f]+\])?::ptr::drop_in_place/.test(name)) return "drop glue (every crate's types)";
  // An async fn's body is inlined into the future_to_promise instance that polls it.
  if (name.includes("future_to_promise")) return "this crate's async bodies (in future_to_promise)";
  if (
    /^<?core(\[[0-9a-f]+\])?::(fmt|unicode|panicking|char|str::(slice_error|count)|slice::index)|escape_debug|::fmt::|fmt::format/
      .test(name)
  ) {
    return "formatting and panic messages (core, alloc)";
  }
  if (/^core(\[[0-9a-f]+\])?::slice::sort/.test(name)) return "core: sorting";
  let n = name;
  const impl = /^<(.+?) as (.+?)>::/.exec(n);
  if (impl) n = impl[1].includes("::") ? impl[1] : impl[2];
  n = n.replace(/^[<&*]+/, "").replace(/^(dyn |mut |const )/, "");
  const parts = n.split("::").map((s) => s.replace(/\[[0-9a-f]+\]$/, ""));
  if (parts[0] === "oauth_token_manager") return `this crate: ${parts.slice(1, 3).join("::")}`;
  if (parts[0] === "__rustc" || parts[0] === "std" || parts[0] === "alloc") return "std / alloc";
  if (parts.length === 1) return "(no path)";
  return parts[0];
}

const totals = new Map();
let code = 0;
bodies.forEach((size, i) => {
  const g = group(names.get(imported + i));
  totals.set(g, (totals.get(g) ?? 0) + size);
  code += size;
});
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
const sorted = [...totals].sort((a, b) => b[1] - a[1]);
console.log(`  code ${kb(code)} in ${bodies.length} functions, data ${kb(dataBytes)} (before gzip)`);
const ours = sorted.filter(([g]) => g.startsWith("this crate"));
// Summed: every group that is this crate's code (its modules and its async bodies).
const oursTotal = ours.reduce((a, [, b]) => a + b, 0);
console.log(
  `  ${"this crate, all modules".padEnd(50)} ${kb(oursTotal).padStart(9)}  ${
    (oursTotal * 100 / code).toFixed(1)
  }%`,
);
for (const [g, b] of sorted.slice(0, rows)) {
  console.log(`  ${g.padEnd(50)} ${kb(b).padStart(9)}  ${(b * 100 / code).toFixed(1)}%`);
}
