// Bundle the browser code with esbuild into the app's static folder (with source maps, which
// the error tracker uses to map minified frames back to the sources).
//
//   node build.mjs                 the bundles below, into src/helpdesk/static/helpdesk/
//   node build.mjs --pages DIR     also the test pages of tests/pages/ (for the browser tests)
//
// A new bundle is one more entry in BUNDLES.
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "src", "helpdesk", "static", "helpdesk");

const BUNDLES = [
  // The classic <script> (an IIFE that starts itself from its data-* attributes).
  { entry: "src/monitor/classic.ts", out: "monitor", format: "iife" },
  // The same SDK as an ES module (init() + the API), and its React entry.
  { entry: "src/monitor/index.ts", out: "monitor.esm", format: "esm" },
  { entry: "src/monitor/react.tsx", out: "monitor-react.esm", format: "esm", external: ["react"] },
  // The monitoring console's script and styles (uPlot inside): console.js and console.css.
  { entry: "src/console/index.ts", out: "console", format: "iife" },
];

const common = {
  bundle: true,
  minify: true,
  sourcemap: "linked",
  target: ["es2020"],
  legalComments: "none",
  logLevel: "warning",
  jsx: "automatic",
  // React's production build (the development one is ten times larger and warns in tests).
  define: { "process.env.NODE_ENV": '"production"' },
  absWorkingDir: here,
};

const builds = BUNDLES.map(({ entry, out, format, external }) =>
  esbuild.build({ ...common, entryPoints: { [out]: entry }, format, external, outdir }),
);

const pagesFlag = process.argv.indexOf("--pages");
if (pagesFlag !== -1) {
  const pages = join(here, "tests", "pages");
  const entryPoints = readdirSync(pages)
    .filter((name) => /\.tsx?$/.test(name))
    .map((name) => join(pages, name));
  builds.push(
    esbuild.build({ ...common, entryPoints, format: "iife", outdir: process.argv[pagesFlag + 1] }),
  );
}

await Promise.all(builds);
