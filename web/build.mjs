// Bundle the page into the Python package (src/voxforge/service/web/), so `voxforge serve` needs
// no Node: index.html, static/app.js (three.js core + GLTFLoader + OrbitControls, minified),
// static/app.css, static/favicon.svg. Asset URLs carry a content hash against stale caches.
// `node build.mjs --watch` rebuilds on change; `--out DIR` writes elsewhere (the tests compare
// a fresh build with the committed one).
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf("--out");
const out = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : join(here, "..", "src", "voxforge", "service", "web");
const staticDir = join(out, "static");

const options = {
  entryPoints: { app: join(here, "src", "main.ts") },
  outdir: staticDir,
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
};

const hash = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 12);

async function writePage(result) {
  const js = await readFile(join(staticDir, "app.js"));
  const css = await readFile(join(staticDir, "app.css"));
  const page = (await readFile(join(here, "index.html"), "utf8"))
    .replace("__JS_HASH__", hash(js))
    .replace("__CSS_HASH__", hash(css));
  await writeFile(join(out, "index.html"), page);
  await copyFile(join(here, "src", "favicon.svg"), join(staticDir, "favicon.svg"));
  const sizes = Object.entries(result.metafile.outputs)
    .map(([file, info]) => `${file.split("/").pop()} ${(info.bytes / 1000).toFixed(1)} kB`)
    .join(", ");
  console.log(`built ${out}: ${sizes}`);
}

await rm(staticDir, { recursive: true, force: true });
await mkdir(staticDir, { recursive: true });
if (process.argv.includes("--watch")) {
  const context = await esbuild.context({
    ...options,
    plugins: [{ name: "page", setup: (b) => b.onEnd((r) => r.errors.length || writePage(r)) }],
  });
  await context.watch();
} else {
  await writePage(await esbuild.build(options));
}
