// A cold function process's first request: the time from sending it to its
// answer, in fresh processes (the module graph already loaded, as Deno.serve
// is listening). It covers what a cold isolate does before it can answer:
// verify the caller, connect to Postgres and check the schema, load the wasm
// and build the manager, read the connection. Prints the median in ms.
import { startStack, USER } from "../tests/functions/harness.ts";

const runs = Number(Deno.args[0] ?? 11);
const s = await startStack({ servers: 1 });
const times: number[] = [];
try {
  await s.connect(USER);
  for (let i = 0; i < runs; i++) {
    const fn = await (await import("../tests/functions/harness.ts")).startFunctions(s.env);
    s.fns.push(fn);
    const server = s.fns.length - 1;
    const t0 = performance.now();
    const r = await s.call("get-token-status", { method: "GET", server });
    times.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`first request: ${r.status}`);
    await fn.stop();
    s.fns.pop();
  }
} finally {
  await s.stop();
}
times.sort((a, b) => a - b);
console.log(times[Math.floor(times.length / 2)].toFixed(2), times.map((t) => t.toFixed(1)).join(" "));
