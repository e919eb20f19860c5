/**
 * Full disk and I/O errors. A write that fails part way reaches the caller as IO_ERROR
 * with the operating system's error kept as `cause`, and the document stays whole and
 * readable: the previous one, or (only when the failure came after the new file was in
 * place) the new one, and the error then says so.
 *
 * Full disk: a tiny tmpfs mounted for the test (root only; skipped with the reason when
 * mount is refused). I/O errors: injected at the fs layer, one system call at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import fs, { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, TokenStoreError } from "../../src/index.js";
import { sampleToken, tempDir } from "../helpers.js";
import { cli } from "../cli-helpers.js";
import { bytesOf, expectBytes, failure, listing, registerSecrets, sized, userNames } from "./support.js";

const MOUNT_BYTES = 256 * 1024;
let mountPoint: string | undefined;
let mountRefused = "";

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "zefs-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${MOUNT_BYTES},nr_inodes=64,mode=700`, "tmpfs", dir], { stdio: "pipe" });
    mountPoint = dir;
  } catch (error) {
    mountRefused = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(() => {
  if (mountPoint) {
    execFileSync("umount", [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
});

/** A token with about `bytes` bytes of secret-free bulk in it. */
function bulky(tag: string, bytes: number) {
  return {
    userName: tag,
    refreshToken: `1000.${tag}`,
    redirectUrl: `https://example.com/${"x".repeat(Math.min(bytes, 16_000))}`,
    apiDomain: "y".repeat(Math.max(0, Math.min(bytes - 16_000, 16_000))),
  };
}

/** Fills the file system of `dir` until only about `free` bytes are left. */
function fillUntil(dir: string, free: number): void {
  const filler = join(dir, "filler");
  rmSync(filler, { force: true });
  const { bavail, bsize } = fs.statfsSync(dir);
  const available = bavail * bsize;
  if (available > free) writeFileSync(filler, Buffer.alloc(available - free));
}

describe("full disk (tmpfs)", () => {
  it("a write that does not fit fails with IO_ERROR (ENOSPC), at every amount of free space; the document stays whole and readable", async (context) => {
    if (!mountPoint) {
      context.skip(`mount -t tmpfs was refused (${mountRefused}); the fs-layer injection tests below cover ENOSPC instead`);
      return;
    }
    const key = generateKey();
    registerSecrets(key);
    const amounts = sized(10, 48);
    const outcomes = { failed: 0, written: 0 };
    for (let step = 0; step < amounts; step++) {
      const dir = join(mountPoint, `s${step}`);
      mkdirSync(dir, { mode: 0o700 });
      const path = join(dir, "t.enc");
      const store = await EncryptedFileStore.open({ path, key });
      await store.saveToken(bulky("base", 20_000));
      const before = bytesOf(path)!;
      // From nothing free to more than the new generation needs (about 2 x 20 KB), in 4 KB pages.
      const free = Math.floor((step / (amounts - 1)) * 60) * 1024;
      fillUntil(mountPoint, free);
      const error: unknown = await store.saveToken(bulky("next", 20_000)).then(
        () => undefined,
        (e: unknown) => e,
      );
      const code = error === undefined ? "ok" : (await failure(Promise.reject(error))).code;
      if (error instanceof TokenStoreError) {
        expect(error.code).toBe("IO_ERROR");
        expect((error.cause as NodeJS.ErrnoException | undefined)?.code).toBe("ENOSPC");
        expect(error.message).toContain("disk full");
      }
      const fresh = await EncryptedFileStore.open({ path, key });
      const names = (await fresh.getTokens()).map((t) => t.userName);
      if (code === "ok") {
        outcomes.written++;
        expect(names).toEqual(["base", "next"]);
      } else {
        outcomes.failed++;
        expectBytes(path, before, `free ${free}`);
        expect(names).toEqual(["base"]);
      }
      // No half-written temp file is left, whatever happened.
      expect(listing(dir).filter((name) => !["t.enc", "t.enc.prev"].includes(name))).toEqual([]);
      rmSync(join(mountPoint, "filler"), { force: true });
      // With space again, the same store writes normally.
      await store.saveToken(bulky("later", 100));
      expect(await userNames(path, key)).toEqual(code === "ok" ? ["base", "next", "later"] : ["base", "later"]);
      rmSync(dir, { recursive: true });
    }
    expect(outcomes.failed).toBeGreaterThan(0);
    expect(outcomes.written).toBeGreaterThan(0);
    console.log(`[fault figures] full disk ${JSON.stringify({ freeSpaceSteps: amounts, ...outcomes })}`);
  }, 60_000);

  it("no inode left for the lock or the temp file: IO_ERROR, document unchanged", async (context) => {
    if (!mountPoint) {
      context.skip(`mount -t tmpfs was refused (${mountRefused})`);
      return;
    }
    const dir = join(mountPoint, "inodes");
    mkdirSync(dir, { mode: 0o700 });
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000, lockWaitMs: 300 });
    await store.saveToken(bulky("base", 10));
    const before = bytesOf(path)!;
    const fillers: string[] = [];
    for (let i = 0; ; i++) {
      try {
        writeFileSync(join(mountPoint, `inode-${i}`), "");
        fillers.push(join(mountPoint, `inode-${i}`));
      } catch {
        break;
      }
    }
    try {
      const error = await failure(store.saveToken(bulky("next", 10)));
      expect(error.code).toBe("IO_ERROR");
      expect((error.cause as NodeJS.ErrnoException | undefined)?.code).toBe("ENOSPC");
      expectBytes(path, before);
      expect(await userNames(path, key)).toEqual(["base"]);
    } finally {
      for (const filler of fillers) rmSync(filler);
    }
    await store.saveToken(bulky("next", 10));
    expect(await userNames(path, key)).toEqual(["base", "next"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  });
});

describe("full disk: the files the command-line tool writes (tmpfs)", () => {
  it("export --out (a new file, or --force over one) and keygen --out at every amount of free space: the whole file, or IO_ERROR (ENOSPC), exit 1 and no file (the old one, for --force), never a temp file", async (context) => {
    if (!mountPoint) {
      context.skip(`mount -t tmpfs was refused (${mountRefused})`);
      return;
    }
    const source = tempDir();
    const file = join(source, "tokens.enc");
    const key = generateKey();
    registerSecrets(key);
    const store = await EncryptedFileStore.open({ path: file, key });
    // 60 tokens of about 700 bytes each (no comma: the CSV layout holds them), in one write.
    const tokens = Array.from({ length: 60 }, (_, i) => sampleToken(`x${i}`, { redirectUrl: `https://example.com/${"p".repeat(500)}/${i}` }));
    await Promise.all(tokens.map((token) => store.saveToken(token)));
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key };
    // The whole export, written where there is room, to compare with.
    const reference = join(tempDir(), "reference.csv");
    expect((await cli(["export", "--out", reference], env)).code).toBe(0);
    const whole = readFileSync(reference);
    expect(whole.toString("utf8").trim().split("\n")).toHaveLength(61);

    const dir = join(mountPoint, "exports");
    mkdirSync(dir, { mode: 0o700 });
    const out = join(dir, "export.csv");
    const keyOut = join(dir, "new.key");
    const older = Buffer.from("an older export, kept whole when the new one does not fit\n");
    const pages = Math.ceil(whole.length / 4096);
    const outcomes = { export: { failed: 0, written: 0 }, exportForce: { failed: 0, written: 0 }, keygen: { failed: 0, written: 0 } };
    const failedWithEnospc = (result: { code: number; stdout: string; stderr: string }, what: string) => {
      expect(result.code, `${what}: ${result.stdout}${result.stderr}`).toBe(1);
      expect(result.stderr, what).toMatch(/error IO_ERROR: .*ENOSPC/);
      expect(result.stdout, what).toBe("");
    };
    // From nothing free to a page more than the export takes, one 4 KiB page at a time.
    for (let free = 0; free <= (pages + 1) * 4096; free += 4096) {
      const what = `${free} bytes free`;
      for (const force of [false, true]) {
        rmSync(out, { force: true });
        if (force) writeFileSync(out, older, { mode: 0o600 });
        fillUntil(mountPoint, free);
        const result = await cli(["export", "--out", out, ...(force ? ["--force"] : [])], env);
        const tally = force ? outcomes.exportForce : outcomes.export;
        if (result.code === 0) {
          tally.written++;
          expect(result.stdout, what).toContain("exported 60 tokens");
          expectBytes(out, whole, `${what}: the export`);
          expect(statSync(out).mode & 0o777).toBe(0o600);
        } else {
          tally.failed++;
          failedWithEnospc(result, `${what}: export${force ? " --force" : ""}`);
          expectBytes(out, force ? older : null, `${what}: after a failed export${force ? " --force" : ""}`);
        }
        expect(listing(dir), what).toEqual(["export.csv"].filter(() => result.code === 0 || force));
        rmSync(join(mountPoint, "filler"), { force: true });
      }

      rmSync(out, { force: true });
      fillUntil(mountPoint, free);
      const result = await cli(["keygen", "--out", keyOut], {});
      if (result.code === 0) {
        outcomes.keygen.written++;
        const text = readFileSync(keyOut, "utf8");
        expect(text, what).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
        expect(Buffer.from(text.trim(), "base64")).toHaveLength(32);
        expect(statSync(keyOut).mode & 0o777).toBe(0o600);
        rmSync(keyOut);
      } else {
        outcomes.keygen.failed++;
        failedWithEnospc(result, `${what}: keygen`);
      }
      // No key file (not even an empty one) after a failure, and no temp file either way.
      expect(listing(dir), what).toEqual([]);
      rmSync(join(mountPoint, "filler"), { force: true });
    }
    // Nothing free: every command failed; a page more than the export: every one wrote.
    for (const tally of Object.values(outcomes)) {
      expect(tally.failed).toBeGreaterThan(0);
      expect(tally.written).toBeGreaterThan(0);
    }
    console.log(`[fault figures] full disk, CLI files ${JSON.stringify({ exportBytes: whole.length, freeSpaceSteps: pages + 2, ...outcomes })}`);
  }, 60_000);
});

type FsName = "openSync" | "writeSync" | "fsyncSync" | "renameSync" | "linkSync" | "closeSync" | "readSync" | "statSync" | "utimesSync";

/**
 * Makes the `nth` call (1-based) of `fs[name]` whose first argument passes `match`
 * fail with `code`, for the CommonJS fs object and the node:fs ESM namespace alike.
 */
async function withFault<T>(name: FsName, code: string, match: (args: unknown[]) => boolean, task: () => Promise<T>): Promise<{ result: T; hits: number }> {
  const original = fs[name] as (...args: unknown[]) => unknown;
  let hits = 0;
  (fs as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    if (match(args)) {
      hits++;
      if (hits === 1) throw Object.assign(new Error(`${code}: injected fault, ${name}`), { code, syscall: name });
    }
    return original.apply(fs, args);
  };
  syncBuiltinESMExports();
  try {
    return { result: await task(), hits };
  } finally {
    (fs as unknown as Record<string, unknown>)[name] = original;
    syncBuiltinESMExports();
  }
}

describe("I/O errors injected at each system call of a write", () => {
  const faults: Array<{ name: FsName; code: string; what: string; match: (path: string) => (args: unknown[]) => boolean }> = [
    {
      name: "openSync",
      code: "EIO",
      what: "creating the temp file",
      match: (path) => (args) => typeof args[0] === "string" && args[0].endsWith(".tmp") && args[0].startsWith(path),
    },
    { name: "writeSync", code: "ENOSPC", what: "writing the new generation", match: () => () => true },
    { name: "writeSync", code: "EIO", what: "writing the new generation", match: () => () => true },
    { name: "fsyncSync", code: "EIO", what: "flushing the new file", match: () => () => true },
    { name: "closeSync", code: "EIO", what: "closing the new file", match: () => () => true },
    { name: "linkSync", code: "EIO", what: "keeping the previous generation", match: () => () => true },
    { name: "linkSync", code: "EMLINK", what: "keeping the previous generation", match: () => () => true },
    { name: "renameSync", code: "EIO", what: "renaming the new file into place", match: (path) => (args) => args[1] === path },
  ];

  for (const fault of faults) {
    it(`${fault.name} fails with ${fault.code} (${fault.what}): IO_ERROR with the cause, previous document intact and readable`, async () => {
      const dir = tempDir();
      const path = join(dir, "t.enc");
      const key = generateKey();
      const store = await EncryptedFileStore.open({ path, key });
      await store.saveToken({ userName: "base", refreshToken: "1000.base-rt" });
      await store.saveToken({ userName: "second", refreshToken: "1000.second-rt" });
      const before = bytesOf(path)!;
      const previous = bytesOf(`${path}.prev`);
      const { result: error, hits } = await withFault(fault.name, fault.code, fault.match(path), () =>
        failure(store.saveToken({ userName: "next", refreshToken: "1000.next-rt" })),
      );
      expect(hits).toBeGreaterThan(0);
      expect(error.code).toBe("IO_ERROR");
      expect((error.cause as NodeJS.ErrnoException).code).toBe(fault.code);
      expect(error.path).toBe(path);
      expectBytes(path, before);
      expect((await store.getTokens()).map((t) => t.userName)).toEqual(["base", "second"]);
      expect(await userNames(path, key)).toEqual(["base", "second"]);
      // Whatever .prev holds now, it is a whole generation, never a newer one.
      const prev = bytesOf(`${path}.prev`);
      if (prev && previous && !prev.equals(previous)) expect(prev.equals(before)).toBe(true);
      // The next write works and cleans up.
      await store.saveToken({ userName: "next", refreshToken: "1000.next-rt" });
      expect(await userNames(path, key)).toEqual(["base", "second", "next"]);
      expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
    });
  }

  it("a failure after the new file is in place (directory fsync) says the write may have landed; the file holds one whole generation", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    await store.saveToken({ userName: "base", refreshToken: "1000.base-rt" });
    let fsyncs = 0;
    const { result: error } = await withFault(
      "fsyncSync",
      "EIO",
      () => ++fsyncs === 2,
      () => failure(store.saveToken({ userName: "next", refreshToken: "1000.next-rt" })),
    );
    expect(error.code).toBe("IO_ERROR");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("EIO");
    expect(error.message).not.toContain("was not changed");
    const names = await userNames(path, key);
    expect(names).toEqual(["base", "next"]);
    expect((await store.getTokens()).map((t) => t.userName)).toEqual(names);
  });

  it("a read that fails (EIO) is IO_ERROR with the cause, and a later read works", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base-rt" });
    const store = await EncryptedFileStore.open({ path, key });
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "other", refreshToken: "1000.other-rt" });
    const { result: error } = await withFault(
      "readSync",
      "EIO",
      () => true,
      () => failure(store.getTokens()),
    );
    expect(error.code).toBe("IO_ERROR");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("EIO");
    expect((await store.getTokens()).map((t) => t.userName)).toEqual(["base", "other"]);
  });
});
