// Bundle the web UI into one flat folder (argument 1; default ../../build/web):
// index.html plus app-<hash>.js and app-<hash>.css. Nothing is loaded from
// elsewhere at run time: every library is in the bundle.
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

const out = resolve(process.argv[2] || "../../build/web");
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (/^(app-.*\.(js|css|map)|index\.html)$/.test(f)) rmSync(join(out, f));

const result = await esbuild.build({
  entryPoints: { app: "src/main.tsx" },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: out,
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => f.endsWith(".js"));
const css = files.find((f) => f.endsWith(".css"));
const html = readFileSync("src/index.html", "utf8")
  .replace("%JS%", `/web/${js}`)
  .replace("%CSS%", `/web/${css}`);
writeFileSync(join(out, "index.html"), html);
console.log(`web UI built into ${out}: ${js}, ${css}`);
