#!/usr/bin/env node
/**
 * Serve the demo page offline: the page, the runtime's modules, onnxruntime-web's WASM files and a
 * bundle, all from this machine (no CDN).
 *
 *   node edge_runtime_js/demo/serve.js BUNDLE [--port 8080]      # then open http://localhost:8080/
 *
 * URL layout (what a deployment serves): /demo/ the page, /src/ the runtime, /ort/ onnxruntime-web's
 * dist folder, /bundle/ the bundle folder. Sends the cross-origin isolation headers that let
 * onnxruntime-web use WASM threads.
 */

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ORT_DIST = path.join(ROOT, "node_modules", "onnxruntime-web", "dist");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm", ".css": "text/css", ".png": "image/png" };

/**
 * Start a static server; resolves to {url, close, bytes} (bytes: what was sent, by path).
 * @param {Record<string, string>} mounts URL prefix -> folder
 * @param {number} [port] 0: any free port
 */
export function serve(mounts, port = 0) {
  /** @type {Map<string, number>} */
  const bytes = new Map();
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    let pathname = decodeURIComponent(url.pathname === "/" ? "/demo/" : url.pathname);
    if (pathname.endsWith("/")) pathname += "index.html";
    const prefix = Object.keys(mounts).find((p) => pathname.startsWith(p));
    const file = prefix && path.join(mounts[prefix], pathname.slice(prefix.length));
    const info = file && file.startsWith(mounts[prefix]) ? await stat(file).catch(() => null) : null;
    if (!info?.isFile()) {
      response.writeHead(404).end("not found");
      return;
    }
    response.writeHead(200, {
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Content-Length": info.size,
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cache-Control": "no-store",
    });
    bytes.set(pathname, info.size);
    createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = /** @type {import("node:net").AddressInfo} */ (server.address());
      resolve({ url: `http://127.0.0.1:${bound}`, bytes, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

/** The demo's mounts for a bundle folder. @param {string} bundle */
export function demoMounts(bundle) {
  return { "/demo/": path.join(ROOT, "demo"), "/src/": path.join(ROOT, "src"), "/ort/": ORT_DIST, "/bundle/": path.resolve(bundle) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [bundle, flag, value] = process.argv.slice(2);
  if (!bundle || (flag && flag !== "--port")) {
    process.stderr.write("usage: serve.js BUNDLE [--port N]\n");
    process.exit(2);
  }
  const { url } = await serve(demoMounts(bundle), flag ? Number(value) : 8080);
  console.log(`serving the demo with ${bundle} at ${url}/`);
}
