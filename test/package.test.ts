/**
 * What is published is what was tested: the tarball `npm pack` makes of this checkout,
 * installed (offline, from the npm cache) into a fresh project and used from there as a
 * user would, through import, require(), its executable and esbuild bundles.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { build, type BuildOptions } from "esbuild";
import { assertNoSecrets, fixture, ROOT, runCommand, tempDir, type ChildResult } from "./helpers.js";

const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
};
const BIN = "zoho-encrypted-filestore";

/** The banner docs/bundling.md gives for ESM bundles, with a name no program uses for createRequire. */
const REQUIRE_BANNER = 'import { createRequire as __bundleCreateRequire } from "node:module"; const require = __bundleCreateRequire(import.meta.url);';

/**
 * The environment for npm working on another directory: without what an npm running this
 * suite exported about this project (npm_package_*, npm_config_local_prefix, INIT_CWD...),
 * which could point it back here, but with the same cache.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^npm_/i.test(name) && !/^npm_config_(cache|userconfig|globalconfig)$/i.test(name)) delete env[name];
  }
  delete env.INIT_CWD;
  return env;
}

interface Packed {
  filename: string;
  integrity: string;
  files: string[];
}

/** What npm pack --json reports, from the JSON it prints last (after any build output). */
function packed(stdout: string): Packed {
  const [pack] = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as { filename: string; integrity: string; files: { path: string }[] }[];
  return { filename: pack!.filename, integrity: pack!.integrity, files: pack!.files.map((file) => file.path).sort() };
}

type LockEntry = { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> } & Record<string, unknown>;

/**
 * The entries of this project's package-lock.json that the package's dependencies need,
 * found the way Node resolves them (the nearest node_modules up from the dependent).
 */
function dependencyClosure(names: string[]): Record<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const closure: Record<string, LockEntry> = {};
  const visit = (from: string, name: string, optional: boolean): void => {
    for (let base = from; ; ) {
      const key = `${base ? `${base}/` : ""}node_modules/${name}`;
      const entry = lock.packages[key];
      if (entry) {
        if (closure[key]) return;
        closure[key] = entry;
        for (const dep of Object.keys(entry.dependencies ?? {})) visit(key, dep, false);
        for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(key, dep, true);
        return;
      }
      if (!base) {
        if (optional) return;
        throw new Error(`${name} is not in package-lock.json`);
      }
      const cut = base.lastIndexOf("/node_modules/");
      base = cut === -1 ? "" : base.slice(0, cut);
    }
  };
  for (const name of names) visit("", name, false);
  return closure;
}

/**
 * Makes `dir` a project that depends on the tarball, with a lockfile, so that `npm ci
 * --offline` installs it from the npm cache alone: a lockfile names each dependency's exact
 * version and integrity, so only the tarballs `npm ci` of this project cached are needed.
 * (`npm install <tarball>` would first fetch the registry's document of every dependency,
 * which the cache holds only if some earlier command happened to fetch it.)
 */
function writeConsumerProject(dir: string, pack: Packed): void {
  const spec = `file:../${pack.filename}`;
  const project = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name: string; version: string };
  const dependencies = { [PKG.name]: spec };
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ ...project, dependencies }, null, 2)}\n`);
  const packages = {
    "": { name: project.name, version: project.version, dependencies },
    [`node_modules/${PKG.name}`]: {
      version: PKG.version,
      resolved: spec,
      integrity: pack.integrity,
      license: PKG.license,
      dependencies: PKG.dependencies,
      bin: PKG.bin,
      engines: PKG.engines,
    },
    ...dependencyClosure(Object.keys(PKG.dependencies)),
  };
  const lock = { name: project.name, version: project.version, lockfileVersion: 3, requires: true, packages };
  writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
}

/** Fails with npm's or node's own words when a child did not end well. */
function expectSuccess(result: ChildResult, what: string): void {
  expect(result.code, `${what}:\n${result.stdout}\n${result.stderr}`).toBe(0);
}

let work: string;
let pack: Packed;
let consumer: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "zefs-pack-"));
  // The dist/ that `npm test` built and the other test files run, packed as it is. With
  // the prepack build, tsup would empty dist/ under test files running beside this one;
  // that the prepack build itself works is checked below, in a copy of the checkout.
  // Two children in this hook's 300 s: each may take up to 140 s.
  const packing = await runCommand("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { env: npmEnv(), timeoutMs: 140_000 });
  expectSuccess(packing, "npm pack");
  pack = packed(packing.stdout);

  consumer = join(work, "consumer");
  cpSync(fixture("consumer-app"), consumer, { recursive: true });
  writeConsumerProject(consumer, pack);
  const install = await runCommand("npm", ["ci", "--offline", "--no-audit", "--no-fund"], { cwd: consumer, env: npmEnv(), timeoutMs: 140_000 });
  expectSuccess(install, "npm ci --offline of the tarball");
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("holds the built entries, the license, the readme and what it links to, and no sources", () => {
    expect(pack.filename).toBe(`${PKG.name}-${PKG.version}.tgz`);
    const files = pack.files;
    for (const file of ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/index.d.cts", "dist/cli.js", "LICENSE", "README.md", "package.json"]) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => /^(src|test)\//.test(file))).toEqual([]);
    // Stack traces name files that are there: no source maps pointing into src/.
    expect(files.filter((file) => file.endsWith(".map"))).toEqual([]);
    // Beside the build: the documentation, the examples and the loopback server they run against.
    const shipped = (file: string) =>
      file.startsWith("dist/") ||
      /^(docs\/[\w-]+\.md|examples\/[\w.-]+)$/.test(file) ||
      [
        "LICENSE",
        "README.md",
        "package.json",
        "SECURITY.md",
        "CHANGELOG.md",
        "scripts/zoho-loopback-server.mjs",
        "scripts/zoho-loopback-server.d.mts",
      ].includes(file);
    expect(files.filter((file) => !shipped(file))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(["docs/api.md", "docs/try-it-locally.md", "examples/typescript-sdk.ts", "scripts/zoho-loopback-server.mjs"]));
    expect(PKG.license).toBe("MIT");
    expect(readFileSync(join(ROOT, "LICENSE"), "utf8")).toMatch(/^MIT License\n\nCopyright \(c\) 2026 zoho-encrypted-filestore contributors\n/);
  });

  it("every relative link of the shipped Markdown resolves to a shipped file (as read in node_modules; npm's page resolves them against the repository)", () => {
    const markdown = pack.files.filter((file) => file.endsWith(".md"));
    expect(markdown.length).toBeGreaterThan(5);
    const dead: string[] = [];
    for (const file of markdown) {
      const text = readFileSync(join(ROOT, file), "utf8");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^([a-z]+:|#)/i.test(target!)) continue;
        const path = join(dirname(file), target!.split("#")[0]!).replace(/\/$/, "");
        if (!pack.files.some((shipped) => shipped === path || shipped.startsWith(`${path}/`))) dead.push(`${file}: ${target}`);
      }
    }
    expect(dead).toEqual([]);
  });

  it("installs as the consumer's own copy", () => {
    const installed = join(consumer, "node_modules", PKG.name);
    expect(JSON.parse(readFileSync(join(installed, "package.json"), "utf8")).version).toBe(PKG.version);
    const resolved = createRequire(join(consumer, "use.cjs")).resolve(PKG.name);
    expect(relative(installed, resolved)).toBe(join("dist", "index.cjs"));
    expect(existsSync(join(installed, "src"))).toBe(false);
  });

  it("works through import", async () => {
    const store = tempDir();
    const result = await runCommand(process.execPath, [join(consumer, "use.mjs"), store], { cwd: consumer });
    expect(result.stderr).toBe("");
    expectSuccess(result, "use.mjs");
    expect(JSON.parse(result.stdout)).toEqual({ found: true, userName: "esm@example.com" });
  });

  it("works through require()", async () => {
    const store = tempDir();
    const result = await runCommand(process.execPath, [join(consumer, "use.cjs"), store], { cwd: consumer });
    expect(result.stderr).toBe("");
    expectSuccess(result, "use.cjs");
    expect(JSON.parse(result.stdout)).toEqual({ found: true, userName: "cjs@example.com" });
  });

  it(`runs ${BIN} from node_modules/.bin`, async () => {
    const bin = join(consumer, "node_modules", ".bin", BIN);
    const version = await runCommand(bin, ["--version"], { cwd: consumer });
    expect(version).toMatchObject({ code: 0, stdout: `${PKG.version}\n`, stderr: "" });

    const keyFile = join(tempDir(), "k");
    const keygen = await runCommand(bin, ["keygen", "--out", keyFile], { cwd: consumer });
    expectSuccess(keygen, "keygen");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8").trim();
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    assertNoSecrets(keygen.stdout + keygen.stderr, [key]);
  });
});

describe("esbuild bundles of a program using the installed package (docs/bundling.md)", () => {
  /** Bundles a script of the consumer project to `outfile`, runs it, and returns what it printed. */
  async function bundleAndRun(entry: string, options: BuildOptions, outfile: string): Promise<unknown> {
    const result = await build({
      entryPoints: [join(consumer, entry)],
      absWorkingDir: consumer,
      bundle: true,
      platform: "node",
      target: "node20",
      outfile,
      logLevel: "silent",
      ...options,
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((warning) => warning.text)).toEqual([]);
    const run = await runCommand(process.execPath, [outfile, tempDir()], { cwd: consumer });
    expect(run.stderr).toBe("");
    expectSuccess(run, `the bundle of ${entry}`);
    return JSON.parse(run.stdout);
  }

  it("ESM with the createRequire banner: self-contained, runs outside the project", async () => {
    // Outside the consumer project: nothing can come from its node_modules at run time.
    const outfile = join(tempDir(), "app.mjs");
    const output = await bundleAndRun("use.mjs", { format: "esm", banner: { js: REQUIRE_BANNER } }, outfile);
    expect(output).toEqual({ found: true, userName: "esm@example.com" });
    expect(readFileSync(outfile, "utf8")).toContain("zoho-encrypted-filestore.file-queues.v1");
  });

  it("ESM with proper-lockfile external: loaded from node_modules at run time", async () => {
    const dir = join(consumer, "bundles");
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, "external.mjs");
    const output = await bundleAndRun("use.mjs", { format: "esm", external: ["proper-lockfile"] }, outfile);
    expect(output).toEqual({ found: true, userName: "esm@example.com" });
    expect(readFileSync(outfile, "utf8")).toMatch(/from "proper-lockfile"/);
  });

  it("CommonJS, esbuild's default for node: no settings needed", async () => {
    const outfile = join(tempDir(), "app.cjs");
    const output = await bundleAndRun("use.cjs", { format: "cjs" }, outfile);
    expect(output).toEqual({ found: true, userName: "cjs@example.com" });
  });
});

describe("prepack", () => {
  it("packing a checkout without dist/ builds it first", async () => {
    // A copy of the checkout without dist/ (and without .git), sharing node_modules.
    const copy = join(work, "checkout");
    cpSync(ROOT, copy, {
      recursive: true,
      filter: (source) => !["node_modules", "dist", ".git"].includes(relative(ROOT, source).split(/[\\/]/)[0]!),
    });
    symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"), "dir");
    const out = join(work, "prepacked");
    mkdirSync(out);
    const packing = await runCommand("npm", ["pack", "--json", "--pack-destination", out], { cwd: copy, env: npmEnv() });
    expectSuccess(packing, "npm pack with prepack");
    // The same files as the tested build (chunk names carry a content hash).
    const names = (list: string[]) => list.map((file) => file.replace(/chunk-\w+\./, "chunk-*."));
    expect(names(packed(packing.stdout).files)).toEqual(names(pack.files));
  }, 180_000);
});
