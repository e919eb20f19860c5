/**
 * One permission policy: what `open` refuses, `doctor` calls a problem, and what one
 * accepts the other does too. Directories others may change (group-writable, or an
 * access-control list granting another user write) and store files others may use are
 * refused by both; the message of a refusal says how to repair it, and after
 * `doctor --fix` both accept.
 *
 * Access-control lists are set with `setfacl` (Debian package acl; .ci/run installs it):
 * without it, the ACL case is reported as not run (test/system-tools.ts).
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { cli } from "../cli-helpers.js";
import { failure, listing, outcome, registerSecrets } from "./support.js";
import { itNeeds } from "../system-tools.js";

/** A uid that need not exist: an ACL entry may name any. */
const OTHER_UID = 4242;

function setfacl(spec: string, path: string): void {
  try {
    execFileSync("setfacl", ["-m", spec, path], { stdio: "pipe" });
  } catch (error) {
    throw new Error(`setfacl -m ${spec} failed (install the acl package): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`);
  }
}

/** How a directory is made reachable to others: a mode, or an ACL on a 0700 directory. */
type Access = { mode: number } | { acl: string };

function describeAccess(access: Access): string {
  return "mode" in access ? `mode ${access.mode.toString(8)}` : `ACL ${access.acl} on mode 700`;
}

function grant(path: string, access: Access): void {
  if ("mode" in access) chmodSync(path, access.mode);
  else {
    chmodSync(path, 0o700);
    setfacl(access.acl, path);
  }
}

/** What `doctor` says about one of its checks ("ok", "PROBLEM", ...), from its report. */
async function doctorSays(file: string, check: "directory" | "store file", fix = false): Promise<{ status: string; line: string }> {
  const result = await cli(["doctor", ...(fix ? ["--fix"] : [])], { ZOHO_TOKEN_STORE_FILE: file });
  const line = result.stdout.split("\n").find((text) => new RegExp(`^\\s+\\S+\\s+${check}: `).test(text));
  if (!line) throw new Error(`doctor printed no ${check} line: ${result.stdout}${result.stderr}`);
  return { status: line.trim().split(/\s+/)[0]!, line };
}

/** A store with one token in a private directory (mode 700) of its own. */
async function storeIn(parent: string, name: string) {
  const dir = join(parent, name);
  mkdirSync(dir, { mode: 0o700 });
  const file = join(dir, "t.enc");
  const key = generateKey();
  registerSecrets(key);
  await (await EncryptedFileStore.open({ path: file, key })).saveToken({ userName: "a", refreshToken: "1000.permissions-a" });
  return { dir, file, key };
}

/**
 * Each directory access in `cases`, on a store of its own: open and doctor give the
 * expected verdict; a refusal says the chmod, refuses a new store there too, and
 * `doctor --fix` repairs it.
 */
async function checkDirectoryCases(cases: Array<[Access, "accept" | "refuse"]>): Promise<void> {
  const parent = tempDir();
  const verdicts: Record<string, { open: string; doctor: string }> = {};
  for (const [index, [access, expected]] of cases.entries()) {
    const what = describeAccess(access);
    const { dir, file, key } = await storeIn(parent, `d${index}`);
    grant(dir, access);
    const opened = await outcome(async () => (await EncryptedFileStore.open({ path: file, key })).getTokens());
    const doctor = await doctorSays(file, "directory");
    verdicts[what] = { open: opened, doctor: doctor.status };
    if (expected === "refuse") {
      // The refusal says what is wrong and the least change that repairs it.
      const error = await failure(EncryptedFileStore.open({ path: file, key }));
      expect(error.message, what).toContain(`${dir} is writable by its group`);
      expect(error.message, what).toContain(`run: chmod go-w '${dir}'`);
      expect(doctor.line, what).toContain(`chmod go-w '${dir}'`);
      // A new store in such a directory is refused the same way, and nothing is created.
      const fresh = join(parent, `new${index}`);
      mkdirSync(fresh, { mode: 0o700 });
      grant(fresh, access);
      expect((await failure(EncryptedFileStore.open({ path: join(fresh, "t.enc"), key }))).code, what).toBe("INSECURE_PERMISSIONS");
      expect(listing(fresh), what).toEqual([]);
      // doctor --fix applies that repair; then both accept, and the owner's bits, set-group-id included, stay.
      const mode = statSync(dir).mode & 0o7777;
      expect((await doctorSays(file, "directory", true)).status, what).toBe("fixed");
      expect(statSync(dir).mode & 0o7777, what).toBe(mode & ~0o022);
      expect((await doctorSays(file, "directory")).status, what).toBe("ok");
      expect(await outcome(async () => (await EncryptedFileStore.open({ path: file, key })).getTokens()), what).toBe("ok");
    }
  }
  expect(verdicts).toEqual(
    Object.fromEntries(
      cases.map(([access, expected]) => [
        describeAccess(access),
        expected === "accept" ? { open: "ok", doctor: "ok" } : { open: "INSECURE_PERMISSIONS", doctor: "PROBLEM" },
      ]),
    ),
  );
}

describe("one permission policy for open and doctor", () => {
  it("the store's directory: group-writable (770, 775, 2775, 730) is refused by both, saying the chmod; 755, 750, 700 and 2750 are accepted by both", async () => {
    await checkDirectoryCases([
      [{ mode: 0o700 }, "accept"],
      [{ mode: 0o750 }, "accept"],
      [{ mode: 0o755 }, "accept"],
      [{ mode: 0o2750 }, "accept"],
      [{ mode: 0o770 }, "refuse"],
      [{ mode: 0o775 }, "refuse"],
      [{ mode: 0o2775 }, "refuse"],
      [{ mode: 0o730 }, "refuse"],
    ]);
  });

  itNeeds("setfacl", "acl")(
    "the store's directory: an ACL granting another user or group write is refused by both, saying the chmod; a read-only ACL is accepted by both",
    async () => {
      await checkDirectoryCases([
        [{ acl: `u:${OTHER_UID}:r-x` }, "accept"],
        [{ acl: `u:${OTHER_UID}:rwx` }, "refuse"],
        [{ acl: `g:${OTHER_UID}:rwx` }, "refuse"],
      ]);
    },
  );

  it("the store file: 600 and 400 are accepted by both; 640, 604, 660 and 620 are refused by both, saying the chmod", async () => {
    const parent = tempDir();
    const cases: Array<[number, "accept" | "refuse"]> = [
      [0o600, "accept"],
      [0o400, "accept"],
      [0o640, "refuse"],
      [0o604, "refuse"],
      [0o660, "refuse"],
      [0o620, "refuse"],
    ];
    const verdicts: Record<string, { open: string; doctor: string }> = {};
    for (const [index, [mode, expected]] of cases.entries()) {
      const what = `mode ${mode.toString(8)}`;
      const { file, key } = await storeIn(parent, `f${index}`);
      chmodSync(file, mode);
      const opened = await outcome(async () => (await EncryptedFileStore.open({ path: file, key })).getTokens());
      const doctor = await doctorSays(file, "store file");
      verdicts[what] = { open: opened, doctor: doctor.status };
      if (expected === "refuse") {
        const error = await failure(EncryptedFileStore.open({ path: file, key }));
        expect(error.message, what).toContain(`run: chmod ${(mode & 0o700).toString(8)} '${file}'`);
        expect(doctor.line, what).toContain(`chmod ${(mode & 0o700).toString(8)} '${file}'`);
      }
    }
    expect(verdicts).toEqual(
      Object.fromEntries(
        cases.map(([mode, expected]) => [
          `mode ${mode.toString(8)}`,
          expected === "accept" ? { open: "ok", doctor: "ok" } : { open: "INSECURE_PERMISSIONS", doctor: "PROBLEM" },
        ]),
      ),
    );
  });
});
