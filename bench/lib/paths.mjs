// Where things are: the package's build, which every subject and child loads, and the
// benchmark's own folder with its own dependencies.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The benchmark's folder (its package.json, package-lock.json and node_modules). */
export const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The package's root. */
export const ROOT = resolve(BENCH, "..");
/** The library as published (`npm run build`). */
export const DIST = join(ROOT, "dist", "index.js");
/** The cipher layer from the same build (`zoho-encrypted-filestore/internal`). */
export const DIST_INTERNAL = join(ROOT, "dist", "internal.js");

/** The path of a child-process script in bench/children/. */
export function childScript(name) {
  return join(BENCH, "children", `${name}.mjs`);
}
