/**
 * The store's location, checked alike by `open` and `doctor`:
 *
 * - every directory above the store's (by the name given and where it really is) is
 *   owned by this user or root and writable by no one else unless sticky, the way
 *   OpenSSH's StrictModes checks the path to `authorized_keys`: otherwise another user
 *   could move the store's directory away and put another in its place;
 * - a store whose directory is not there (moved away) is refused with a code, never
 *   started over as an empty store in a new directory: nothing creates a directory;
 * - the previous generation obeys the store file's rules (a private regular file);
 * - a name with no room for the names beside it is refused by both.
 *
 * As root every root-owned directory is "yours"; ownership by another user is tested
 * with `chown` (root only), and from a non-root process (uid 65534) where one can run.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { DIST, tempDir } from "../helpers.js";
import { cli } from "../cli-helpers.js";
import { failure, listing, outcome, registerSecrets } from "./support.js";

const IS_ROOT = process.getuid?.() === 0;
/** A user that is not this one: `nobody` on Debian. */
const OTHER_UID = 65534;

type CheckName = "directory" | "parent directories" | "store file" | "previous generation";

/** doctor's report as { check: [status, message] }, its exit code and its output. */
async function doctor(file: string, fix = false) {
  const result = await cli(["doctor", "--json", ...(fix ? ["--fix"] : [])], { ZOHO_TOKEN_STORE_FILE: file });
  const checks = JSON.parse(result.stdout).result.checks as Array<{ check: string; status: string; message: string; fix?: string }>;
  const of = (name: CheckName) => checks.find((check) => check.check === name)!;
  return { code: result.code, of, text: result.stdout + result.stderr };
}

/** A store with one token at <root>/<path...>/t.enc, every directory made 0755 (the last 0700). */
async function storeAt(root: string, ...dirs: string[]) {
  let dir = root;
  for (const [index, name] of dirs.entries()) {
    dir = join(dir, name);
    mkdirSync(dir, { mode: index === dirs.length - 1 ? 0o700 : 0o755 });
  }
  const file = join(dir, "t.enc");
  const key = generateKey();
  registerSecrets(key);
  await (await EncryptedFileStore.open({ path: file, key })).saveToken({ userName: "a", refreshToken: "1000.location-a" });
  return { dir, file, key };
}

const opens = async (file: string, key: string) => outcome(async () => (await EncryptedFileStore.open({ path: file, key })).getTokens());

describe("every directory above the store's", () => {
  it("writable by others and not sticky (777, 775, 2775, 733): refused by open with the chmod, a problem for doctor, which never changes it; sticky (1777, 1775) or 755: accepted by both", async () => {
    const cases: Array<[number, "accept" | "refuse"]> = [
      [0o755, "accept"],
      [0o1777, "accept"],
      [0o1775, "accept"],
      [0o777, "refuse"],
      [0o775, "refuse"],
      [0o2775, "refuse"],
      [0o733, "refuse"],
    ];
    const verdicts: Record<string, { open: string; doctor: string }> = {};
    for (const [index, [mode, expected]] of cases.entries()) {
      const what = `mode ${mode.toString(8)}`;
      const root = tempDir();
      chmodSync(root, 0o755);
      const { file, key } = await storeAt(root, `shared${index}`, "app", "data");
      const shared = join(root, `shared${index}`);
      chmodSync(shared, mode);
      const report = await doctor(file);
      verdicts[what] = { open: await opens(file, key), doctor: report.of("parent directories").status };
      if (expected === "accept") {
        expect(report.code, `${what}: ${report.text}`).toBe(0);
        continue;
      }
      const error = await failure(EncryptedFileStore.open({ path: file, key }));
      expect(error.code, what).toBe("INSECURE_PERMISSIONS");
      expect(error.path, what).toBe(shared);
      expect(error.message, what).toContain(`the directory above the store ${shared} is writable by`);
      expect(error.message, what).toContain(`and not sticky (mode ${mode.toString(8)})`);
      expect(error.message, what).toContain(`run: chmod go-w '${shared}'`);
      expect(report.of("parent directories").message, what).toContain(`chmod go-w '${shared}'`);
      // The CLI says the same repair.
      const listed = await cli(["list", "--file", file], { ZOHO_TOKEN_STORE_KEY: key });
      expect(listed.code, what).toBe(1);
      expect(listed.stderr, what).toContain(`run: chmod go-w '${shared}'`);
      // doctor --fix leaves a directory shared beyond the store alone, and says the problem remains.
      const fixed = await doctor(file, true);
      expect(fixed.code, what).toBe(1);
      expect(fixed.of("parent directories").status, what).toBe("problem");
      expect(statSync(shared).mode & 0o7777, what).toBe(mode);
      // A new store under it is refused too, and nothing is created.
      const fresh = join(shared, "app", "data", "new.enc");
      expect(await outcome(EncryptedFileStore.open({ path: fresh, key })), what).toBe("INSECURE_PERMISSIONS");
      expect(listing(join(shared, "app", "data")), what).toEqual(["t.enc"]);
      // The chmod named repairs it for both.
      chmodSync(shared, mode & ~0o022);
      expect(await opens(file, key), what).toBe("ok");
      expect((await doctor(file)).code, what).toBe(0);
    }
    expect(verdicts).toEqual(
      Object.fromEntries(
        cases.map(([mode, expected]) => [
          `mode ${mode.toString(8)}`,
          expected === "accept" ? { open: "ok", doctor: "ok" } : { open: "INSECURE_PERMISSIONS", doctor: "problem" },
        ]),
      ),
    );
  });

  it("where the path really goes counts too: a symbolic link (in a safe directory) to a directory under a world-writable one is refused by both", async () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    const { dir, key } = await storeAt(root, "open", "real");
    chmodSync(join(root, "open"), 0o777);
    mkdirSync(join(root, "safe"), { mode: 0o755 });
    symlinkSync(dir, join(root, "safe", "link"));
    const viaLink = join(root, "safe", "link", "t.enc");
    const error = await failure(EncryptedFileStore.open({ path: viaLink, key }));
    expect(error.code).toBe("INSECURE_PERMISSIONS");
    expect(error.path).toBe(join(root, "open"));
    const report = await doctor(viaLink);
    expect(report.of("parent directories")).toMatchObject({
      status: "problem",
      message: expect.stringContaining(`${join(root, "open")} is writable by every user`),
    });
    chmodSync(join(root, "open"), 0o755);
    expect(await opens(viaLink, key)).toBe("ok");
  });

  it.skipIf(!IS_ROOT)("owned by another user (chown, as root): refused by both, whatever its mode; owned by root: accepted", async () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    const { file, key } = await storeAt(root, "theirs", "app");
    const theirs = join(root, "theirs");
    chownSync(theirs, OTHER_UID, OTHER_UID);
    const error = await failure(EncryptedFileStore.open({ path: file, key }));
    expect(error.code).toBe("INSECURE_PERMISSIONS");
    expect(error.message).toContain(`${theirs} is owned by another user (uid ${OTHER_UID})`);
    const report = await doctor(file);
    expect(report.code).toBe(1);
    expect(report.of("parent directories")).toMatchObject({ status: "problem", message: expect.stringContaining(`uid ${OTHER_UID}`) });
    chownSync(theirs, 0, 0);
    expect(await opens(file, key)).toBe("ok");
    expect((await doctor(file)).code).toBe(0);
  });

  /**
   * From a process that is not root: directories owned by root (the temp directory's
   * parents) and by the process's own user are accepted, one owned by a third user is
   * refused. Needs root to set up (chown) and a build (dist/) readable by uid 65534.
   */
  it.skipIf(!IS_ROOT)("seen from a process of another user (uid 65534): root's and its own directories are accepted, a third user's refused", async () => {
    const probe = spawnSync(process.execPath, ["-e", `import(${JSON.stringify(DIST)}).then(() => process.exit(0), () => process.exit(3))`], {
      uid: OTHER_UID,
      gid: OTHER_UID,
      stdio: "ignore",
    });
    if (probe.status !== 0) {
      console.warn(
        `[location.test] NOT RUN: a process of uid ${OTHER_UID} cannot load ${DIST} here (exit ${probe.status}); run npm run build, from a checkout others may read`,
      );
      return;
    }
    const root = tempDir();
    chmodSync(root, 0o755);
    const mine = join(root, "mine");
    mkdirSync(join(mine, "store"), { recursive: true, mode: 0o755 });
    chownSync(mine, OTHER_UID, OTHER_UID);
    chownSync(join(mine, "store"), OTHER_UID, OTHER_UID);
    chmodSync(join(mine, "store"), 0o700);
    const third = join(root, "third");
    mkdirSync(join(third, "store"), { recursive: true, mode: 0o755 });
    chownSync(third, 4242, 4242);
    chownSync(join(third, "store"), OTHER_UID, OTHER_UID);
    chmodSync(join(third, "store"), 0o700);
    const script = `
      const { EncryptedFileStore } = await import(${JSON.stringify(DIST)});
      const out = {};
      for (const path of process.argv.slice(1)) {
        try { const s = await EncryptedFileStore.open({ path, key: process.env.KEY }); await s.saveToken({ userName: "u", refreshToken: "1000.r" }); out[path] = "ok"; }
        catch (e) { out[path] = e.code ?? String(e); }
      }
      process.stdout.write(JSON.stringify(out));`;
    const key = generateKey();
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script, join(mine, "store", "t.enc"), join(third, "store", "t.enc")], {
      uid: OTHER_UID,
      gid: OTHER_UID,
      env: { PATH: process.env.PATH ?? "", KEY: key },
      encoding: "utf8",
    });
    expect(child.stderr).toBe("");
    expect(JSON.parse(child.stdout)).toEqual({ [join(mine, "store", "t.enc")]: "ok", [join(third, "store", "t.enc")]: "INSECURE_PERMISSIONS" });
    expect(existsSync(join(third, "store", "t.enc"))).toBe(false);
  });
});

describe("every directory above the key file", () => {
  it("writable by others and not sticky: a keyFile is refused by open with the chmod and changes nothing, a problem for doctor, which never changes it; sticky or 755: accepted", async () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    const { file } = await storeAt(root, "store");
    for (const [mode, expected] of [
      [0o775, "refuse"],
      [0o777, "refuse"],
      [0o1777, "accept"],
      [0o755, "accept"],
    ] as const) {
      const what = `mode ${mode.toString(8)}`;
      const shared = join(root, `keys-${mode.toString(8)}`);
      mkdirSync(join(shared, "app"), { recursive: true, mode: 0o755 });
      const keyFile = join(shared, "app", "zoho.key");
      writeFileSync(keyFile, `${generateKey()}\n`, { mode: 0o600 });
      chmodSync(shared, mode);
      const fresh = join(root, "store", `fresh-${mode.toString(8)}.enc`);
      const before = listing(join(root, "store"));
      const report = await cli(["doctor", "--json", "--file", file, "--key-file", keyFile]);
      const keyCheck = (JSON.parse(report.stdout).result.checks as Array<{ check: string; status: string; message: string }>).find(
        (check) => check.check === "key file",
      )!;
      if (expected === "accept") {
        expect(
          await outcome(async () => (await EncryptedFileStore.open({ path: fresh, keyFile })).saveToken({ userName: "b", refreshToken: "1000.b" })),
          what,
        ).toBe("ok");
        expect(keyCheck.status, what).toBe("ok");
        continue;
      }
      // A new store would be sealed with a key someone else could have put there: refused before anything is written.
      const error = await failure(EncryptedFileStore.open({ path: fresh, keyFile }));
      expect(error.code, what).toBe("INSECURE_PERMISSIONS");
      expect(error.path, what).toBe(shared);
      expect(error.message, what).toContain(`the directory above the key file ${shared} is writable by`);
      expect(error.message, what).toContain("who could move the key file away and put another in its place");
      expect(error.message, what).toContain(`run: chmod go-w '${shared}'`);
      expect(listing(join(root, "store")), what).toEqual(before);
      expect(keyCheck.status, what).toBe("problem");
      expect(keyCheck.message, what).toContain(`chmod go-w '${shared}'`);
      const fixed = await cli(["doctor", "--fix", "--file", file, "--key-file", keyFile]);
      expect(fixed.code, what).toBe(1);
      expect(statSync(shared).mode & 0o7777, what).toBe(mode);
    }
  });
});

describe("a store whose directory is not there", () => {
  it("moved away (renamed by someone): open fails with INVALID_PATH saying how to create one, never an empty store in a new directory; doctor reports it", async () => {
    const root = tempDir();
    const { dir, file, key } = await storeAt(root, "app", "data");
    renameSync(dir, `${dir}.moved`);
    const error = await failure(EncryptedFileStore.open({ path: file, key }));
    expect(error.code).toBe("INVALID_PATH");
    expect(error.path).toBe(dir);
    expect(error.message).toContain(`the store's directory ${dir} does not exist`);
    expect(error.message).toContain(`mkdir -m 700 '${dir}'`);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(root, "app"))).toEqual(["data.moved"]);
    const report = await doctor(file);
    expect(report.code).toBe(1);
    expect(report.of("directory")).toMatchObject({ status: "problem", message: expect.stringContaining(`${dir} does not exist`) });
    // doctor --fix creates nothing either.
    expect((await doctor(file, true)).code).toBe(1);
    expect(existsSync(dir)).toBe(false);
    // Put back, it opens with its token.
    renameSync(`${dir}.moved`, dir);
    expect((await (await EncryptedFileStore.open({ path: file, key })).getTokens()).map((t) => t.userName)).toEqual(["a"]);
  });

  it("a store file that is not there, in a directory that is: open creates nothing, the first write creates the file", async () => {
    const dir = tempDir();
    const file = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path: file, key });
    expect(listing(dir)).toEqual([]);
    await store.saveToken({ userName: "a", refreshToken: "1000.first" });
    expect(listing(dir)).toEqual(["t.enc"]);
  });
});

describe("the previous generation, by the store file's rules", () => {
  it("other users may read it (644, 640), or it is not a regular file: open refuses it as doctor reports it; after doctor --fix both accept", async () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      const what = `mode ${mode.toString(8)}`;
      const { file, key } = await storeAt(tempDir(), "d");
      await (await EncryptedFileStore.open({ path: file, key })).saveToken({ userName: "b", refreshToken: "1000.location-b" });
      chmodSync(`${file}.prev`, mode);
      const error = await failure(EncryptedFileStore.open({ path: file, key }));
      expect(error.code, what).toBe("INSECURE_PERMISSIONS");
      expect(error.message, what).toContain(`the previous generation ${file}.prev can be accessed by other users (mode ${mode.toString(8)})`);
      expect(error.message, what).toContain(`run: chmod 600 '${file}.prev'`);
      const report = await doctor(file);
      expect(report.code, what).toBe(1);
      expect(report.of("previous generation"), what).toMatchObject({ status: "problem", fix: `chmod 600 '${file}.prev'` });
      expect((await doctor(file, true)).of("previous generation").status, what).toBe("fixed");
      expect(statSync(`${file}.prev`).mode & 0o777, what).toBe(0o600);
      expect(await opens(file, key), what).toBe("ok");
      expect((await doctor(file)).code, what).toBe(0);
    }
    // A directory, or a symbolic link, where the previous generation goes.
    for (const kind of ["directory", "symbolic link"] as const) {
      const { file, key } = await storeAt(tempDir(), "d");
      if (kind === "directory") mkdirSync(`${file}.prev`);
      else {
        writeFileSync(`${file}.elsewhere`, "x", { mode: 0o600 });
        symlinkSync(`${file}.elsewhere`, `${file}.prev`);
      }
      expect(await opens(file, key), kind).toBe("INVALID_PATH");
      expect((await doctor(file)).of("previous generation").status, kind).toBe("problem");
    }
  });

  it.skipIf(!IS_ROOT)("owned by another user (chown, as root): refused by open as doctor reports it", async () => {
    const { file, key } = await storeAt(tempDir(), "d");
    await (await EncryptedFileStore.open({ path: file, key })).saveToken({ userName: "b", refreshToken: "1000.location-b" });
    chownSync(`${file}.prev`, OTHER_UID, OTHER_UID);
    const error = await failure(EncryptedFileStore.open({ path: file, key }));
    expect(error.code).toBe("INSECURE_PERMISSIONS");
    expect(error.message).toContain(`uid ${OTHER_UID}`);
    expect((await doctor(file)).of("previous generation").status).toBe("problem");
  });
});

describe("a name with no room for the names beside it", () => {
  it("is refused by open (INVALID_PATH) and a problem for doctor", async () => {
    const dir = tempDir();
    const file = join(dir, `${"n".repeat(192)}.enc`);
    const key = generateKey();
    expect(await outcome(EncryptedFileStore.open({ path: file, key }))).toBe("INVALID_PATH");
    const report = await doctor(file);
    expect(report.code).toBe(1);
    expect(report.of("store file")).toMatchObject({ status: "problem", message: expect.stringContaining("bytes long; at most 191") });
  });
});
