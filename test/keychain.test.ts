/**
 * The OS keychain as a key source, against a real Secret Service: a private D-Bus
 * session bus and gnome-keyring-daemon in a fresh temporary home (test/secret-service.ts).
 * Every keychain call runs in a child process (the built CLI, or a script over the built
 * library), each with the environment of the keychain it is meant to see.
 *
 * Without the Debian packages dbus-daemon, gnome-keyring and libsecret-tools, the part
 * that needs a Secret Service says so loudly and is not run; the rest still runs
 * (a missing or hanging session bus needs no Secret Service).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, isTokenStoreError } from "../src/index.js";
import { KEYCHAIN_SERVICE, KEYCHAIN_TIMEOUT_MS } from "../src/crypto/keychain.js";
import { assertNoSecrets, DIST, ROOT, runCommand, sampleToken, secretsOf, tempDir, type ChildResult } from "./helpers.js";
import { missingSecretServicePackages, reportNotRun, startSecretService, type SecretService } from "./secret-service.js";
import { MUST_RUN } from "./system-tools.js";

const CLI = join(ROOT, "dist", "cli.js");
const missing = missingSecretServicePackages();
// Under CI=true the suite runs anyway and fails, naming what is missing.
if (missing.length > 0 && !MUST_RUN) reportNotRun(missing);

/** An environment with no session bus at all: nothing to connect to, nothing inherited. */
function noBusEnv(dir: string): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_RUNTIME_DIR: dir };
}

function zefs(args: string[], env: Record<string, string>, cwd?: string): Promise<ChildResult> {
  return runCommand(process.execPath, [CLI, ...args], { env, ...(cwd ? { cwd } : {}) });
}

function json(result: ChildResult): { ok: boolean; result: Record<string, unknown> | null; error: { code: string; message: string } | null } {
  return JSON.parse(result.stdout);
}

/**
 * Runs `body` (the text of an async function of `lib`, the built library, and `args`) in
 * a child process; it prints what it returns as JSON, or the error's code and message.
 */
async function library(
  body: string,
  args: unknown,
  env: Record<string, string>,
): Promise<{ value?: unknown; code?: string; message?: string; cause?: string; ms: number }> {
  const script = `
    const lib = await import(${JSON.stringify(DIST)});
    const args = JSON.parse(process.argv[1]);
    const started = Date.now();
    try {
      const value = await (async (lib, args) => { ${body} })(lib, args);
      process.stdout.write(JSON.stringify({ value: value ?? null, ms: Date.now() - started }));
    } catch (error) {
      process.stdout.write(JSON.stringify({ code: error.code ?? error.name, message: error.message, cause: String(error.cause?.message), ms: Date.now() - started }));
    }`;
  const result = await runCommand(process.execPath, ["--input-type=module", "-e", script, JSON.stringify(args)], { env });
  if (result.code !== 0 || result.signal !== null) throw new Error(`library child failed (${result.code ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** Lines of /proc/keys (the kernel keys this user can see) that name the keychain service. */
function kernelKeys(): string[] {
  if (!existsSync("/proc/keys")) return [];
  return readFileSync("/proc/keys", "utf8")
    .split("\n")
    .filter((line) => line.includes(KEYCHAIN_SERVICE) || line.includes("zefs-test"));
}

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Fails when any file under `dirs` holds the key: its bytes, or its base64, base64url or hex text. */
function assertKeyNotOnDisk(base64Key: string, dirs: string[]): number {
  const bytes = Buffer.from(base64Key, "base64");
  expect(bytes.length).toBe(32);
  const needles = [
    bytes,
    Buffer.from(base64Key),
    Buffer.from(bytes.toString("base64url")),
    Buffer.from(bytes.toString("hex")),
    Buffer.from(bytes.toString("hex").toUpperCase()),
  ];
  let scanned = 0;
  for (const dir of dirs) {
    for (const file of filesUnder(dir)) {
      const content = readFileSync(file);
      scanned += 1;
      for (const needle of needles) {
        if (content.includes(needle)) throw new Error(`the key is written in ${file}`);
      }
    }
  }
  return scanned;
}

describe("the keychain key source without a Secret Service", () => {
  it("importing the library loads no keychain code; only a keychain key does", async () => {
    // The native addon is the keychain library's core: its dlopen is what a user who
    // never names a keychain must never pay for.
    const script = `
      const loaded = [];
      const dlopen = process.dlopen;
      process.dlopen = function (module, file, ...rest) { loaded.push(String(file)); return dlopen.call(this, module, file, ...rest); };
      const lib = await import(${JSON.stringify(DIST)});
      const before = loaded.filter((file) => file.includes("keyring"));
      const store = await lib.EncryptedFileStore.open({ path: process.argv[1] + "/a.tokens", key: lib.generateKey() });
      await store.saveToken({ userName: "u@example.com", refreshToken: "1000.r" });
      const afterUse = loaded.filter((file) => file.includes("keyring"));
      try { await (await lib.EncryptedFileStore.open({ path: process.argv[1] + "/b.tokens", keychain: {} })).verify(); } catch {}
      process.stdout.write(JSON.stringify({ before, afterUse, afterKeychain: loaded.filter((file) => file.includes("keyring")) }));`;
    const dir = tempDir();
    const result = await runCommand(process.execPath, ["--input-type=module", "-e", script, dir], { env: noBusEnv(dir) });
    expect(result.stderr).toBe("");
    const seen = JSON.parse(result.stdout);
    expect(seen.before).toEqual([]);
    expect(seen.afterUse).toEqual([]);
    // The control: the check above can see the addon being loaded.
    expect(seen.afterKeychain.length).toBe(1);
    expect(seen.afterKeychain[0]).toMatch(/keyring.*\.node$/);
  });

  it("the package declares @napi-rs/keyring as an optional peer, pinned, and never bundles it", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.peerDependencies["@napi-rs/keyring"]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.peerDependenciesMeta["@napi-rs/keyring"]).toEqual({ optional: true });
    expect(pkg.devDependencies["@napi-rs/keyring"]).toBe(pkg.peerDependencies["@napi-rs/keyring"]);
    expect(pkg.dependencies?.["@napi-rs/keyring"]).toBeUndefined();
    for (const file of readdirSync(join(ROOT, "dist")).filter((name) => name.endsWith(".js"))) {
      expect(readFileSync(join(ROOT, "dist", file), "utf8")).not.toContain("keyring-linux-x64");
    }
  });

  it("a keychain key is one of the keys: never together with another, checked where it is given", async () => {
    const path = join(tempDir(), "t.tokens");
    for (const options of [
      { path, keychain: {}, keyFile: "/tmp/k" },
      { path, keychain: {}, key: generateKey() },
      { path, keychain: { account: "" } },
      { path, keychain: { account: "a\nb" } },
      { path, keychain: { acount: "typo" } },
      { path, keychain: "default" },
      { path, key: generateKey(), previousKeys: [{ keychain: {}, keyFile: "/tmp/k" }] },
      { path, key: generateKey(), previousKeys: [{ keychain: { service: 7 } }] },
    ]) {
      const error = await EncryptedFileStore.open(options as never).catch((caught: unknown) => caught);
      expect(isTokenStoreError(error, "INVALID_OPTION"), JSON.stringify(options)).toBe(true);
    }
    expect(existsSync(path)).toBe(false);
  });

  it("no session bus: KEYCHAIN_UNAVAILABLE at once, naming what is missing and the other key sources; no fallback to the kernel keyring", async () => {
    const dir = tempDir();
    const before = kernelKeys();
    const lib = await library(
      "const store = await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'zefs-test-nobus' } }); return store.verify();",
      { path: join(dir, "s.tokens") },
      noBusEnv(dir),
    );
    expect(lib.code, lib.message).toBe("KEYCHAIN_UNAVAILABLE");
    expect(lib.message).toContain("D-Bus");
    expect(lib.message).toMatch(/keyFile.*passphrase/);
    // Recorded, not asserted: the bound is the implementation's own deadline, checked below.
    console.log(`no session bus: KEYCHAIN_UNAVAILABLE after ${lib.ms} ms`);
    expect(KEYCHAIN_TIMEOUT_MS).toBeLessThanOrEqual(3000);

    const init = await zefs(["init", "--file", join(dir, "s.tokens"), "--keychain", "zefs-test-nobus", "--json"], noBusEnv(dir));
    expect(init.code).toBe(1);
    expect(json(init).error?.code).toBe("KEYCHAIN_UNAVAILABLE");
    expect(json(init).error?.message).toContain("--key-file");
    const human = await zefs(["init", "--file", join(dir, "s.tokens"), "--keychain", "zefs-test-nobus"], noBusEnv(dir));
    expect(human.stderr).toContain("key: --keychain zefs-test-nobus (OS keychain)");
    expect(human.stderr).toMatch(/error KEYCHAIN_UNAVAILABLE: .*D-Bus.*--key-file/);
    expect(existsSync(join(dir, "s.tokens"))).toBe(false);
    expect(kernelKeys()).toEqual(before);
  });

  it("a session bus that never answers: KEYCHAIN_UNAVAILABLE within the deadline, not a hang", async () => {
    const dir = tempDir();
    const socketPath = join(dir, "bus");
    const sockets: Socket[] = [];
    const server: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const env = { ...noBusEnv(dir), DBUS_SESSION_BUS_ADDRESS: `unix:path=${socketPath},guid=0123456789abcdef0123456789abcdef` };
      const lib = await library(
        "return (await lib.EncryptedFileStore.open({ path: args.path, keychain: {} })).verify();",
        { path: join(dir, "s.tokens") },
        env,
      );
      expect(lib.code, lib.message).toBe("KEYCHAIN_UNAVAILABLE");
      expect(lib.message).toContain("did not answer");
      expect(sockets.length).toBeGreaterThan(0);
      console.log(`silent session bus: KEYCHAIN_UNAVAILABLE after ${lib.ms} ms`);
      const keygen = await zefs(["keygen", "--keychain", "--json"], env);
      expect(keygen.signal).toBeNull();
      expect(json(keygen).error?.code).toBe("KEYCHAIN_UNAVAILABLE");
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  it("the command line takes --keychain with or without a name, and refuses it beside --key-file", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "k");
    writeFileSync(keyFile, `${generateKey()}\n`, { mode: 0o600 });
    const both = await zefs(["init", "--file", join(dir, "s.tokens"), "--keychain", "--key-file", keyFile], noBusEnv(dir));
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--key-file or --keychain, not both");
    const help = await zefs(["list", "--help"], noBusEnv(dir));
    expect(help.stdout).toContain("--keychain [NAME]");
    const keygen = await zefs(["keygen", "--keychain", "x", "--out", join(dir, "k2")], noBusEnv(dir));
    expect(keygen.code).toBe(2);
    expect(existsSync(join(dir, "k2"))).toBe(false);
  });
});

describe.skipIf(missing.length > 0 && !MUST_RUN)("the keychain key source with a real Secret Service", () => {
  let service: SecretService;
  let kernelBefore: string[];
  beforeAll(() => {
    kernelBefore = kernelKeys();
    service = startSecretService();
  });
  afterAll(() => service?.stop());

  /** The key in an entry, read back through libsecret's own tool (the test may see it; nothing else prints it). */
  function lookup(account: string, env = service.env): string {
    return execFileSync("secret-tool", ["lookup", "service", KEYCHAIN_SERVICE, "username", account], { env, encoding: "utf8" });
  }

  it("keygen --keychain creates a random key straight in the keychain, prints nothing secret, never overwrites", async () => {
    const dir = tempDir();
    const made = await zefs(["keygen", "--keychain", "desk"], service.env, dir);
    expect(made.code, made.stderr).toBe(0);
    const key = lookup("desk");
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(made.stdout + made.stderr).not.toContain(key);
    expect(made.stdout).toContain('entry "desk"');
    expect(readdirSync(dir)).toEqual([]);

    const again = await zefs(["keygen", "--keychain", "desk", "--json"], service.env, dir);
    expect(again.code).toBe(1);
    expect(json(again).error?.code).toBe("EXISTS");
    expect(lookup("desk")).toBe(key);

    const byDefault = await zefs(["keygen", "--keychain", "--json"], service.env, dir);
    expect(json(byDefault).result).toEqual({ keychain: { service: KEYCHAIN_SERVICE, account: "default" } });
    expect(lookup("default")).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it("a store opens, saves and finds with its key in the keychain, across processes; verify and doctor name the source", async () => {
    const dir = tempDir();
    const path = join(dir, "zoho.tokens");
    const token = sampleToken("kc");
    const created = await library(
      "await lib.createKeychainKey({ account: 'lib' }); const store = await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'lib' } }); return (await store.saveToken(args.token)).id;",
      { path, token },
      service.env,
    );
    expect(created.code, created.message).toBeUndefined();
    const found = await library(
      "const store = await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'lib' } }); const found = await store.findToken({ userName: args.token.userName }); return { id: found.id, refreshToken: found.refreshToken };",
      { path, token },
      service.env,
    );
    expect(found.value).toMatchObject({ id: created.value, refreshToken: token.refreshToken });
    // Another entry holds another key: WRONG_KEY, not a silent new store.
    await zefs(["keygen", "--keychain", "other"], service.env);
    const other = await library(
      "return (await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'other' } })).verify();",
      { path },
      service.env,
    );
    expect(other.code).toBe("WRONG_KEY");

    const verify = await zefs(["verify", "--file", path, "--keychain", "lib"], service.env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain("raw key from --keychain lib (OS keychain)");
    const verifyJson = await zefs(["verify", "--file", path, "--keychain=lib", "--json"], service.env);
    expect(json(verifyJson).result).toMatchObject({ status: "ok", tokens: 1, keyFrom: "--keychain lib (OS keychain)" });
    const doctor = await zefs(["doctor", "--file", path, "--keychain", "lib"], service.env);
    expect(doctor.stdout).toMatch(/decrypts: opens and authenticates with the key given \(--keychain lib \(OS keychain\); 1 token\)/);
    const list = await zefs(["list", "--file", path, "--keychain", "lib", "--json"], service.env);
    expect(list.code, list.stderr).toBe(0);
    for (const result of [verify, verifyJson, doctor, list]) {
      assertNoSecrets(result.stdout + result.stderr, [...secretsOf(token), lookup("lib").trim()]);
    }
  });

  it("rekey moves a store from a key file into the keychain and back; the key never touches the disk", async () => {
    const dir = tempDir();
    const path = join(dir, "zoho.tokens");
    const oldKey = join(dir, "old.key");
    const newKey = join(dir, "new.key");
    expect((await zefs(["keygen", "--out", oldKey], service.env)).code).toBe(0);
    expect((await zefs(["init", "--file", path, "--key-file", oldKey], service.env)).code).toBe(0);
    const token = sampleToken("mv");
    await library(
      "const store = await lib.EncryptedFileStore.open({ path: args.path, keyFile: args.keyFile }); await store.saveToken(args.token);",
      { path, keyFile: oldKey, token },
      service.env,
    );

    expect((await zefs(["keygen", "--keychain", "moved"], service.env)).code).toBe(0);
    const inward = await zefs(["rekey", "--file", path, "--key-file", oldKey, "--new-keychain", "moved"], service.env);
    expect(inward.code, inward.stderr).toBe(0);
    expect(inward.stdout).toContain("--new-keychain moved (OS keychain)");
    expect((await zefs(["verify", "--file", path, "--key-file", oldKey, "--json"], service.env)).stdout).toContain('"wrong-key"');
    expect((await zefs(["verify", "--file", path, "--keychain", "moved"], service.env)).code).toBe(0);
    const inKeychain = lookup("moved").trim();
    const files = assertKeyNotOnDisk(inKeychain, [service.root, dir]);
    expect(files).toBeGreaterThan(3); // the store, its previous generation, the keyring's own files

    // A previous key may also be a keychain key (a rotation in progress).
    const rotated = await library(
      "const store = await lib.EncryptedFileStore.open({ path: args.path, keyFile: args.oldKey, previousKeys: [{ keychain: { account: 'moved' } }] }); return (await store.findToken({ userName: args.userName }))?.refreshToken;",
      { path, oldKey, userName: token.userName },
      service.env,
    );
    expect(rotated.value).toBe(token.refreshToken);

    expect((await zefs(["keygen", "--out", newKey], service.env)).code).toBe(0);
    const outward = await zefs(["rekey", "--file", path, "--keychain", "moved", "--new-key-file", newKey], service.env);
    expect(outward.code, outward.stderr).toBe(0);
    const back = await zefs(["verify", "--file", path, "--key-file", newKey, "--json"], service.env);
    expect(json(back).result).toMatchObject({ status: "ok", tokens: 1 });
    expect((await zefs(["verify", "--file", path, "--keychain", "moved", "--json"], service.env)).stdout).toContain('"wrong-key"');
    assertKeyNotOnDisk(inKeychain, [service.root, dir]);
    // The keyring daemon's own file holds the entries, sealed with the keyring password.
    expect(filesUnder(service.home).some((file) => file.endsWith(".keyring") && statSync(file).size > 0)).toBe(true);
  });

  it("an entry that holds something other than a key of ours is refused, not repeated, not changed", async () => {
    const dir = tempDir();
    const foreign = "hunter2-a-password-of-another-program";
    execFileSync("secret-tool", ["store", "--label=another program", "service", KEYCHAIN_SERVICE, "username", "foreign"], { env: service.env, input: foreign });
    const lib = await library(
      "return (await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'foreign' } })).verify();",
      { path: join(dir, "s.tokens") },
      service.env,
    );
    expect(lib.code).toBe("KEYCHAIN_BAD_ENTRY");
    expect(lib.message).not.toContain(foreign);
    const init = await zefs(["init", "--file", join(dir, "s.tokens"), "--keychain", "foreign", "--json"], service.env);
    expect(json(init).error?.code).toBe("KEYCHAIN_BAD_ENTRY");
    expect(init.stdout + init.stderr).not.toContain(foreign);
    const keygen = await zefs(["keygen", "--keychain", "foreign", "--json"], service.env);
    expect(json(keygen).error?.code).toBe("EXISTS");
    expect(lookup("foreign")).toBe(foreign);
    expect(existsSync(join(dir, "s.tokens"))).toBe(false);
    const missingEntry = await library(
      "return (await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'nobody' } })).verify();",
      { path: join(dir, "s.tokens") },
      service.env,
    );
    expect(missingEntry.code).toBe("KEYCHAIN_NO_ENTRY");
  });

  it("the kernel keyring is never used: the Secret Service is chosen explicitly", () => {
    // Every test above used the keychain; none of it may show up among the kernel's keys.
    expect(kernelKeys()).toEqual(kernelBefore);
  });

  it("a Secret Service that hangs: KEYCHAIN_UNAVAILABLE, not a hang", async () => {
    const dir = tempDir();
    const path = join(dir, "zoho.tokens");
    expect((await zefs(["keygen", "--keychain", "frozen"], service.env)).code).toBe(0);
    expect(service.signalKeyring("SIGSTOP")).toBeGreaterThan(0);
    try {
      const lib = await library(
        "return (await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'frozen' } })).verify();",
        { path },
        service.env,
      );
      expect(lib.code, lib.message).toBe("KEYCHAIN_UNAVAILABLE");
      console.log(`stopped keyring daemon: ${lib.message} / ${lib.cause}`);
      expect(lib.message).toMatch(/did not answer/);
      expect(lib.message).toMatch(/keyFile.*passphrase/);
      console.log(`stopped keyring daemon: KEYCHAIN_UNAVAILABLE after ${lib.ms} ms`);
    } finally {
      service.signalKeyring("SIGCONT");
    }
    expect(existsSync(path)).toBe(false);
  });

  it("a locked keyring: KEYCHAIN_UNAVAILABLE naming the lock and the other key sources", async () => {
    const dir = tempDir();
    const path = join(dir, "zoho.tokens");
    expect((await zefs(["keygen", "--keychain", "locked"], service.env)).code).toBe(0);
    expect((await zefs(["init", "--file", path, "--keychain", "locked"], service.env)).code).toBe(0);
    service.lock();
    const lib = await library(
      "return (await lib.EncryptedFileStore.open({ path: args.path, keychain: { account: 'locked' } })).verify();",
      { path },
      service.env,
    );
    expect(lib.code, lib.message).toBe("KEYCHAIN_UNAVAILABLE");
    expect(lib.message).toContain("locked");
    expect(lib.message).toMatch(/keyFile.*passphrase/);
    console.log(`locked keyring: KEYCHAIN_UNAVAILABLE after ${lib.ms} ms`);
    const verify = await zefs(["verify", "--file", path, "--keychain", "locked", "--json"], service.env);
    expect(verify.code).toBe(1);
    expect(json(verify).error?.code).toBe("KEYCHAIN_UNAVAILABLE");
    expect(json(verify).error?.message).toContain("--key-file");
    expect(kernelKeys()).toEqual(kernelBefore);
  });
});
