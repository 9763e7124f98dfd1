// Bundles each page's script and the stylesheet into ../helpdesk/dashboard/static/dashboard/build/.
// One self-contained, minified file per page (no code splitting: a page loads one script);
// collectstatic then gives them content-hashed names, served immutable.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "helpdesk", "dashboard", "static", "dashboard", "build");
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: ["agent", "ticket", "portal", "reports"].map((name) => join(here, "src", `${name}.js`)).concat(join(here, "src", "app.css")),
  outdir,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
console.log(`built into ${outdir}`);
