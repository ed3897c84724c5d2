// Builds the journey editor into one script and one stylesheet under static/journeys/ (committed,
// so running Engage needs no Node.js). `make assets` runs this.
import { build } from "esbuild";

await build({
  entryPoints: { editor: "src/main.jsx" },
  outdir: "../../static/journeys",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  legalComments: "linked",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "info",
});
