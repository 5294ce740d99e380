// Runs .tflite models on LiteRT (@litertjs/core's WebAssembly build, CPU
// accelerator = XNNPACK) under node, for edgenas's conformance tests.
//
// Usage: LITERT_WASM_DIR=DIR node shim.cjs < request.json > response.json
// (DIR: @litertjs/core's wasm/ directory; edgenas passes the script with -e)
//   request:  {"jobs": [{"model": BASE64, "inputs": [[BASE64 per graph input], ...]}]}
//   response: {"results": [{"outputs": [[BASE64 per graph output], ...],
//                           "fully_accelerated": bool, "error": "..."}]}
//
// Why not the package's own loader: loadLiteRt() fetches the emscripten
// script the browser way (importScripts in a worker, a <script> element
// otherwise), and its Tensor class has no int8 dtype. The emscripten script
// itself runs under node once it is evaluated as a CommonJS module (its
// package is "type": "module", so require() would parse it as ESM), and its
// embind API (loadModel, compileModel, LiteRtTensorBuffer) takes any element
// type, so int8 tensors are written and read through it directly.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

// The non-relaxed-SIMD build: LiteRT's own fallback for engines without
// relaxed SIMD, which node 20 only has behind a flag.
const WASM_JS = "litert_wasm_compat_internal.js";

function loadFactory(dir) {
  const file = path.join(dir, WASM_JS);
  const src = fs.readFileSync(file, "utf8");
  const mod = { exports: {} };
  new Function("module", "exports", "require", "__filename", "__dirname", src)(
    mod, mod.exports, require, file, dir);
  if (typeof mod.exports !== "function") {
    throw new Error(`${file} did not define the emscripten module factory`);
  }
  return mod.exports;
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

// runJob compiles one model and runs it once per input set.
async function runJob(M, env, job) {
  const bytes = Buffer.from(job.model, "base64");
  const ptr = M._malloc(bytes.length);
  const owned = [];
  try {
    M.HEAPU8.set(bytes, ptr);
    const model = M.loadModel(env, ptr, bytes.length);
    owned.push(model);
    const compiled = await M.compileModel(env, model, {
      accelerator: "wasm", cpuOptions: { numThreads: 1 }, gpuOptions: {}, webNNOptions: {},
    });
    owned.push(compiled);
    const outputs = [];
    for (const set of job.inputs) {
      const buffers = [];
      try {
        for (let i = 0; i < set.length; i++) {
          const type = model.getInputTensorType(0, i);
          const data = Buffer.from(set[i], "base64");
          const want = type.bytes();
          if (data.length !== want) {
            type.delete();
            throw new Error(`input ${i}: ${data.length} bytes, the model's input takes ${want}`);
          }
          const tb = M.LiteRtTensorBuffer.createManaged(env, M.LiteRtTensorBufferType.HOST_MEMORY, type, want);
          type.delete();
          buffers.push(tb);
          const p = tb.lock(M.LiteRtTensorBufferLockMode.WRITE);
          M.HEAPU8.set(data, p);
          tb.unlock();
        }
        const outs = await compiled.run(0, buffers);
        const got = [];
        for (const ob of outs) {
          const p = ob.lock(M.LiteRtTensorBufferLockMode.READ);
          got.push(Buffer.from(M.HEAPU8.slice(p, p + ob.packedSize())).toString("base64"));
          ob.unlock();
          ob.delete();
        }
        outputs.push(got);
      } finally {
        for (const b of buffers) b.delete();
      }
    }
    return { outputs, fully_accelerated: compiled.isFullyAccelerated() };
  } finally {
    for (const o of owned.reverse()) o.delete();
    M._free(ptr);
  }
}

async function main() {
  const dir = process.env.LITERT_WASM_DIR;
  if (!dir) throw new Error("LITERT_WASM_DIR is not set (usage: LITERT_WASM_DIR=DIR node shim.cjs < request.json)");
  const req = JSON.parse(await readStdin());
  const log = [];
  const M = await loadFactory(dir)({
    locateFile: (p) => path.join(dir, p),
    print: (s) => log.push(s),
    printErr: (s) => log.push(s),
  });
  const env = M.LiteRtEnvironment.create(null);
  const results = [];
  for (const job of req.jobs) {
    const mark = log.length;
    try {
      results.push(await runJob(M, env, job));
    } catch (e) {
      const detail = log.slice(mark).filter((l) => !l.startsWith("INFO")).join("; ");
      results.push({ error: String(e && e.message ? e.message : e) + (detail ? ` (LiteRT: ${detail})` : "") });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((e) => {
  process.stderr.write(`litert shim: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
