// Copies the front-end files fincrm serves from node_modules into build/static/vendor.
// Nothing is bundled or fetched from a CDN; package-lock.json pins every file.
import { cpSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";

const target = "build/static/vendor";
const files = {
  "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
  "@alpinejs/csp/dist/cdn.min.js": "alpine/alpine-csp.min.js",
  "echarts/dist/echarts.min.js": "echarts/echarts.min.js",
  "@tabler/core/dist/css/tabler.min.css": "tabler/css/tabler.min.css",
  "@tabler/core/dist/js/tabler.min.js": "tabler/js/tabler.min.js",
};

rmSync(target, { recursive: true, force: true });
for (const [source, destination] of Object.entries(files)) {
  const from = join("node_modules", source);
  if (!existsSync(from)) {
    console.error(`missing ${from}: run npm ci first`);
    process.exit(1);
  }
  const to = join(target, destination);
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to);
}
console.log(`assets: ${Object.keys(files).length} files in ${target}`);
