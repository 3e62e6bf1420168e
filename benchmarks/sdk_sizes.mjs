// Gzipped sizes of browser error/performance SDK bundles, built the same way (esbuild, minified,
// es2020, one IIFE each): ours (monitor.js) against the official Sentry browser SDK.
// Run: .venv/bin/node benchmarks/sdk_sizes.mjs   (prints JSON: name -> {raw, gzip} bytes)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const frontend = join(dirname(fileURLToPath(import.meta.url)), "..", "frontend");
const esbuild = createRequire(join(frontend, "package.json"))("esbuild");

const DSN = "https://0123456789abcdef0123456789abcdef@helpdesk.example.com/1";
const ENTRIES = {
  "monitor.js (ours: errors, Web Vitals attribution, page load, interactions)":
    'import "./src/monitor/classic.ts";',
  "web-vitals attribution build alone": 'import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution"; ' +
    "for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(console.log);",
  "web-vitals standard build alone": 'import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals"; ' +
    "for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(console.log);",
  "@sentry/browser: init() + captureException": 'import * as Sentry from "@sentry/browser"; ' +
    `Sentry.init({ dsn: "${DSN}" }); Sentry.captureException(new Error("x"));`,
  // Sentry's documented smallest setup: a client without default integrations.
  "@sentry/browser: smallest (BrowserClient, no integrations) + captureException":
    'import { BrowserClient, Scope, defaultStackParser, makeFetchTransport } from "@sentry/browser"; ' +
    `const client = new BrowserClient({ dsn: "${DSN}", transport: makeFetchTransport, ` +
    "stackParser: defaultStackParser, integrations: [] }); " +
    "const scope = new Scope(); scope.setClient(client); client.init(); " +
    'scope.captureException(new Error("x"));',
};

const sizes = {};
for (const [name, contents] of Object.entries(ENTRIES)) {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: frontend, loader: "ts" },
    bundle: true,
    minify: true,
    format: "iife",
    target: ["es2020"],
    legalComments: "none",
    write: false,
    define: { "process.env.NODE_ENV": '"production"' },
  });
  const code = result.outputFiles[0].contents;
  sizes[name] = { raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}
console.log(JSON.stringify(sizes, null, 2));
