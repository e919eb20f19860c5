import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { assertNoSecrets, fixture, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { cli, jsonResult, sdkCsv } from "./cli-helpers.js";

const modeOf = (path: string) => statSync(path).mode & 0o777;

function newStore() {
  const dir = tempDir();
  const file = join(dir, "tokens.enc");
  const key = generateKey();
  return { dir, file, key, env: { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key } };
}

async function records(file: string, key: string) {
  const store = await EncryptedFileStore.open({ path: file, key });
  return { generation: (await store.verify()).generation, tokens: (await store.getTokens()).map((record) => ({ ...record })) };
}

describe("import --from-csv", () => {
  it("takes every row of a 10-column SDK file into a new store, in one write, without the CSV ids", async () => {
    const { dir, file, key, env } = newStore();
    const csv = join(dir, "sdk.csv");
    const rows = [
      sampleToken("a"),
      sampleToken("b"),
      { ...sampleToken("c"), userName: null, accessToken: null, refreshToken: null, grantToken: "1000.grant-c-gt" },
    ];
    writeFileSync(
      csv,
      sdkCsv(rows).replace(/^(\d+),/gm, (_, id) => `${Number(id) + 40},`),
    );
    const result = await cli(["import", "--from-csv", csv, "--json"], env);
    expect(result.code).toBe(0);
    const report = jsonResult(result.stdout);
    expect(report).toMatchObject({ columns: 10, rows: 3, added: 3, updated: 0, unchanged: 0, writes: 1, generation: 1 });
    expect(report.results.map((r: { line: number; id: string; action: string }) => [r.line, r.id, r.action])).toEqual([
      [2, "1", "added"],
      [3, "2", "added"],
      [4, "3", "added"],
    ]);
    expect(result.stderr).toContain(`remove it: shred -u ${csv}`);
    const stored = await records(file, key);
    expect(stored.tokens[0]).toEqual({ id: "1", grantToken: null, ...sampleToken("a"), expiryTime: rows[0]!.expiryTime });
    expect(stored.tokens[2]).toMatchObject({ id: "3", userName: null, grantToken: "1000.grant-c-gt", refreshToken: null });
  });

  it("merges by the SDK's matching rules, reports added / updated / unchanged, and writes once", async () => {
    const { dir, file, key, env } = newStore();
    const store = await EncryptedFileStore.open({ path: file, key });
    const [a, b, d] = [sampleToken("a"), sampleToken("b"), sampleToken("d")];
    await store.saveToken(a);
    await store.saveToken(b);
    await store.saveToken({ refreshToken: "1000.refresh-x-rt", clientId: "1000.X", clientSecret: "sx" });
    const before = (await records(file, key)).generation;
    const csv = join(dir, "sdk.csv");
    writeFileSync(
      csv,
      sdkCsv([
        { ...a, accessToken: "1000.access-a-NEW" }, // same user: updated
        b, // identical: unchanged
        { refreshToken: "1000.refresh-x-rt", clientId: "1000.X", clientSecret: "sx", accessToken: "1000.access-x" }, // no user, same refresh token: updated
        d, // new
        { ...d, accessToken: "1000.access-d-2" }, // same user as the line before: merged into it
      ]),
    );
    const result = await cli(["import", "--from-csv", csv], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("line 2: updated token 1 (user-a@example.com)");
    expect(result.stdout).toContain("line 3: unchanged token 2 (user-b@example.com)");
    expect(result.stdout).toContain("line 4: updated token 3");
    expect(result.stdout).toContain("line 5: added token 4 (user-d@example.com)");
    expect(result.stdout).toContain("line 6: updated token 4 (user-d@example.com), same token as line 5");
    expect(result.stdout).toContain("added 1, updated 3, unchanged 1 in");
    expect(result.stdout).toContain(`shred -u ${csv}`);
    const after = await records(file, key);
    expect(after.generation).toBe(before + 1);
    expect(after.tokens).toHaveLength(4);
    expect(after.tokens[0]!.accessToken).toBe("1000.access-a-NEW");
    expect(after.tokens[2]!.accessToken).toBe("1000.access-x");
    expect(after.tokens[3]!.accessToken).toBe("1000.access-d-2");

    // The same file again: the first rows are unchanged but line 5 sets token 4's access
    // token back, so it is written (once); then a file that only repeats what is stored is not.
    const again = jsonResult((await cli(["import", "--from-csv", csv, "--json"], env)).stdout);
    expect(again).toMatchObject({ added: 0, writes: 1 });
    const repeat = join(dir, "repeat.csv");
    writeFileSync(repeat, sdkCsv([after.tokens[0]!, after.tokens[1]!]));
    const unchanged = jsonResult((await cli(["import", "--from-csv", repeat, "--json"], env)).stdout);
    expect(unchanged).toMatchObject({ added: 0, updated: 0, unchanged: 2, writes: 0 });
  });

  it("reads the older 9-column layout, the typescript SDK's user_mail header, CRLF and blank lines", async () => {
    const { dir, file, key, env } = newStore();
    const csv = join(dir, "old.csv");
    writeFileSync(csv, `${sdkCsv([sampleToken("a"), sampleToken("b")], 9, "user_mail").replace(/\n/g, "\r\n")}\r\n\r\n`);
    const result = await cli(["import", "--from-csv", csv, "--json"], env);
    expect(result.code).toBe(0);
    expect(jsonResult(result.stdout)).toMatchObject({ columns: 9, added: 2 });
    const stored = await records(file, key);
    expect(stored.tokens[1]).toMatchObject({ userName: "user-b@example.com", redirectUrl: "https://example.com/callback", apiDomain: null });
  });

  it("reads the 6-column layout of the first SDKs (zcrmsdk 1.0, nodejs-sdk-2.0 1.0.0), byte for byte as they wrote it", async () => {
    const { dir, file, key, env } = newStore();
    const a = sampleToken("a");
    const b = { ...sampleToken("b"), refreshToken: null, accessToken: null, grantToken: "1000.grant-b-gt", expiryTime: null };
    // FileStore wrote the header, then "\n" + row for each save (Array.join renders null as "").
    const text =
      "user_mail,client_id,refresh_token,access_token,grant_token,expiry_time" +
      [a, b].map((t) => `\n${[t.userName, t.clientId, t.refreshToken, t.accessToken, "grantToken" in t ? t.grantToken : null, t.expiryTime].join()}`).join("");
    const csv = join(dir, "zcrm_oauthtokens.txt");
    writeFileSync(csv, text);
    const result = await cli(["import", "--from-csv", csv], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("read 2 rows from");
    expect(result.stdout).toContain("(6-column layout)");
    expect(result.stderr).toContain("holds no client secret and no redirect URL");
    assertNoSecrets(result.stdout + result.stderr, [key, ...secretsOf(a), ...secretsOf(b)]);
    const stored = await records(file, key);
    expect(stored.tokens).toEqual([
      {
        id: "1",
        userName: a.userName,
        clientId: a.clientId,
        clientSecret: null,
        refreshToken: a.refreshToken,
        accessToken: a.accessToken,
        grantToken: null,
        expiryTime: a.expiryTime,
        redirectUrl: null,
        apiDomain: null,
      },
      {
        id: "2",
        userName: b.userName,
        clientId: b.clientId,
        clientSecret: null,
        refreshToken: null,
        accessToken: null,
        grantToken: "1000.grant-b-gt",
        expiryTime: null,
        redirectUrl: null,
        apiDomain: null,
      },
    ]);
    expect(jsonResult((await cli(["import", "--from-csv", csv, "--json"], env)).stdout)).toMatchObject({ columns: 6, unchanged: 2, writes: 0 });

    // A later import of the same token from a 10-column file fills in what the old layout lacked.
    const newer = join(dir, "newer.csv");
    writeFileSync(newer, sdkCsv([a]));
    expect((await cli(["import", "--from-csv", newer], env)).code).toBe(0);
    expect((await records(file, key)).tokens[0]).toMatchObject({ clientSecret: a.clientSecret, redirectUrl: a.redirectUrl });
  });

  it("reads nodejs-sdk-2.0 2.0.0's 9-column header, which ends in redirect_uri", async () => {
    const { dir, file, key, env } = newStore();
    const csv = join(dir, "old.csv");
    writeFileSync(csv, sdkCsv([sampleToken("a")], 9, "user_mail").replace("redirect_url", "redirect_uri"));
    const result = await cli(["import", "--from-csv", csv, "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    expect((await records(file, key)).tokens[0]).toMatchObject({ userName: "user-a@example.com", redirectUrl: "https://example.com/callback" });
    assertNoSecrets(result.stdout + result.stderr, [key, ...secretsOf(sampleToken("a"))]);
  });

  it("writes nothing when a row cannot be read, names its line, never its values; --skip-bad imports the rest", async () => {
    const { dir, file, key, env } = newStore();
    const csv = join(dir, "sdk.csv");
    const good = sdkCsv([sampleToken("a")]);
    const lines = [
      good,
      "2,user-q@example.com,1000.CLIENTIDQXYZ,secret-q,1000.refresh-q,with,comma,,,,", // 11 values
      "3,user-r@example.com,1000.CLIENTIDRXYZ,secret-r,,,,,,", // no token at all
      "4,user-s@example.com,1000.CLIENTIDSXYZ,secret-s,1000.refresh-s,,,tomorrow,,", // expiry not a number
      "5,user-t@example.com,1000.CLIENTIDTXYZ,secret-t", // too few values
    ];
    writeFileSync(csv, lines.join("\n"));
    const result = await cli(["import", "--from-csv", csv], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("line 3: 11 values, expected 10 (a value holds a comma?)");
    expect(result.stderr).toContain("line 4: no refresh_token, grant_token or access_token");
    expect(result.stderr).toContain("line 5: expiry_time is not a time in milliseconds");
    expect(result.stderr).toContain("line 6: 4 values, expected 10");
    expect(result.stderr).toMatch(/error BAD_CSV: 4 of 5 rows cannot be read \(lines 3, 4, 5, 6\); nothing was written/);
    for (const value of ["secret-q", "refresh-q", "secret-r", "secret-s", "refresh-s", "tomorrow", "secret-t", "CLIENTIDQ", "user-q"]) {
      expect(result.stdout + result.stderr).not.toContain(value);
    }
    expect(statSafe(file)).toBe(false);

    const skipped = await cli(["import", "--from-csv", csv, "--skip-bad", "--json"], env);
    expect(skipped.code).toBe(0);
    expect(jsonResult(skipped.stdout)).toMatchObject({ added: 1, skipped: [{ line: 3 }, { line: 4 }, { line: 5 }, { line: 6 }] });
    expect((await records(file, key)).tokens).toHaveLength(1);
  });

  it("refuses a file that is not an SDK token CSV without quoting it", async () => {
    const { dir, env } = newStore();
    const csv = join(dir, "x.csv");
    writeFileSync(csv, "1,user@example.com,1000.CLIENTIDZZZ,secret-zz,1000.refresh-zz,,,,,\n");
    const result = await cli(["import", "--from-csv", csv], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error BAD_CSV: line 1 of .* is not the header of a Zoho SDK FileStore CSV/);
    expect(result.stderr).not.toContain("secret-zz");
    expect(result.stderr).not.toContain("CLIENTIDZZZ");
    for (const header of [
      "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
      "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
      "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url",
      "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url",
      "id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri",
      "user_mail,client_id,refresh_token,access_token,grant_token,expiry_time",
    ]) {
      expect(result.stderr).toContain(`"${header}"`);
    }
    // A header with one column too few is refused the same way.
    writeFileSync(csv, "user_mail,client_id,refresh_token,access_token,grant_token\nu@example.com,1000.CLIENTIDZZZ,1000.refresh-zz,,\n");
    const short = await cli(["import", "--from-csv", csv], env);
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("error BAD_CSV");
    expect(short.stderr).not.toContain("refresh-zz");
    const missing = await cli(["import", "--from-csv", join(dir, "nope.csv")], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error IO_ERROR: cannot read");
  });

  it("a CSV file larger than any store holds is refused without being read whole", async () => {
    const { dir, env } = newStore();
    const csv = join(dir, "huge.csv");
    writeFileSync(csv, "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain\n");
    truncateSync(csv, 5 * 1024 ** 3); // sparse: 5 GiB that take no disk
    const before = process.memoryUsage().rss;
    const result = await cli(["import", "--from-csv", csv], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error INVALID_OPTION: .*huge\.csv holds more than the 67108864 bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 ** 2);
  });
});

function statSafe(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

describe("export", () => {
  async function filled() {
    const setup = newStore();
    const store = await EncryptedFileStore.open({ path: setup.file, key: setup.key });
    await store.saveToken(sampleToken("a"));
    await store.saveToken({ ...sampleToken("b"), grantToken: "1000.grant-b" });
    return setup;
  }

  it("writes the SDK CSV layout, mode 600, with a warning; import reads it back", async () => {
    const { dir, file, key, env } = await filled();
    const out = join(dir, "export.csv");
    const result = await cli(["export", "--out", out], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^key: ZOHO_TOKEN_STORE_KEY\nwarning: .*export\.csv holds 2 tokens in plaintext \(mode 600\)/);
    expect(modeOf(out)).toBe(0o600);
    const text = readFileSync(out, "utf8");
    expect(text.split("\n")[0]).toBe("id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain");
    expect(text).toContain(sampleToken("a").refreshToken);

    const target = newStore();
    expect((await cli(["import", "--from-csv", out], target.env)).code).toBe(0);
    const original = await records(file, key);
    expect((await records(target.file, target.key)).tokens).toEqual(original.tokens);
  });

  it("json format holds every field", async () => {
    const { dir, file, key, env } = await filled();
    const out = join(dir, "export.json");
    expect((await cli(["export", "--out", out, "--format", "json"], env)).code).toBe(0);
    const data = JSON.parse(readFileSync(out, "utf8"));
    expect(data).toEqual({ format: "zoho-encrypted-filestore-export", version: 1, tokens: (await records(file, key)).tokens });
  });

  it("refuses stdout and an existing file without --force", async () => {
    const { dir, file, env } = await filled();
    const toStdout = await cli(["export", "--out", "-"], env);
    expect(toStdout.code).toBe(2);
    expect(toStdout.stdout).toBe("");
    const forced = await cli(["export", "--out", "-", "--force", "--format", "json"], env);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).tokens).toHaveLength(2); // the export itself, not a --json report
    expect(forced.stderr).toContain("warning: printing 2 tokens in plaintext");

    const out = join(dir, "existing.csv");
    writeFileSync(out, "keep me", { mode: 0o644 });
    const refused = await cli(["export", "--out", out], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error EXISTS");
    expect(readFileSync(out, "utf8")).toBe("keep me");
    expect((await cli(["export", "--out", out, "--force"], env)).code).toBe(0);
    expect(modeOf(out)).toBe(0o600);
    expect(readFileSync(out, "utf8")).toContain("user-a@example.com");

    const overStore = await cli(["export", "--out", file, "--force"], env);
    expect(overStore.code).toBe(1);
    expect(overStore.stderr).toContain("error REFUSED");
  });

  it("--out never names the store, its previous generation, the key file or the lock, however spelled (a symlinked directory, dir/../, a hard link, inside the held lock): REFUSED, every file unchanged", async () => {
    const { dir, file, key } = await filled();
    const keyFile = join(dir, "store.key");
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    const aside = tempDir();
    const alias = join(aside, "alias");
    symlinkSync(dir, alias);
    const hardLink = join(aside, "hard-link.enc");
    linkSync(file, hardLink);
    // A writer of the store, stopped while it holds the lock (the lock directory exists).
    const writer = spawn(process.execPath, [fixture("fault-writer.mjs"), file, "w", "1"], {
      env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key, FAULT_STALL: "locked", FAULT_STALL_HOW: "stop" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const closed = new Promise((resolve) => writer.on("close", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        let seen = "";
        writer.stdout.on("data", (chunk: Buffer) => {
          seen += chunk.toString();
          if (seen.includes("stalled")) resolve();
        });
        writer.on("close", () => reject(new Error(`the writer ended before it held the lock: ${seen}`)));
      });
      expect(statSync(`${file}.lock`).isDirectory()).toBe(true);
      const snapshot = () => ({
        files: Object.fromEntries(
          readdirSync(dir)
            .filter((name) => !name.endsWith(".lock"))
            .map((name) => [name, readFileSync(join(dir, name)).toString("base64")]),
        ),
        lock: readdirSync(`${file}.lock`),
        hardLink: readFileSync(hardLink).toString("base64"),
      });
      const before = snapshot();
      expect(Object.keys(before.files).sort()).toEqual(["store.key", "tokens.enc", "tokens.enc.prev"]);
      const parent = join(dir, "..");
      const spellings: Array<[string, string]> = [
        ["the store through a symlinked directory", join(alias, "tokens.enc")],
        ["the previous generation through a symlinked directory", join(alias, "tokens.enc.prev")],
        ["the key file through a symlinked directory", join(alias, "store.key")],
        ["the store as dir/../dir/file", `${parent}/${basename(dir)}/../${basename(dir)}/tokens.enc`],
        ["the previous generation as dir/./file", `${dir}/./tokens.enc.prev`],
        ["a hard link to the store", hardLink],
        ["the lock directory", `${file}.lock`],
        ["a new file inside the held lock", join(`${file}.lock`, "export.csv")],
        ["a new file inside the held lock, through a symlinked directory", join(alias, "tokens.enc.lock", "export.csv")],
      ];
      const env = { ZOHO_TOKEN_STORE_FILE: file };
      for (const [what, out] of spellings) {
        for (const force of [[], ["--force"]]) {
          for (const storeSpelling of [file, join(alias, "tokens.enc")]) {
            const result = await cli(["export", "--out", out, "--key-file", keyFile, ...force], { ...env, ZOHO_TOKEN_STORE_FILE: storeSpelling });
            const label = `${what}${force.length ? " (--force)" : ""}, store given as ${storeSpelling === file ? "its path" : "a symlinked directory"}`;
            expect(result.code, `${label}: ${result.stdout}${result.stderr}`).toBe(1);
            expect(result.stderr, label).toContain("error REFUSED");
            expect(snapshot(), label).toEqual(before);
          }
        }
      }
    } finally {
      writer.kill("SIGKILL");
      await closed;
    }
  });

  it("an unrelated <out>.<pid>.tmp survives an export, whether the export succeeds or fails", async () => {
    const { dir, env } = await filled();
    // The in-process run() is this process: its pid is the one an export would have used.
    const out = join(dir, "export.csv");
    const stranger = `${out}.${process.pid}.tmp`;
    writeFileSync(stranger, "somebody else's file", { mode: 0o600 });
    const written = await cli(["export", "--out", out], env);
    expect(written.code, written.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("user-a@example.com");
    expect(readFileSync(stranger, "utf8")).toBe("somebody else's file");

    // A directory where the export should go: the rename fails after the temp file is written.
    const taken = join(dir, "taken");
    mkdirSync(join(taken, "inside"), { recursive: true });
    const strangerOfTaken = `${taken}.${process.pid}.tmp`;
    writeFileSync(strangerOfTaken, "another file of somebody else", { mode: 0o600 });
    const failed = await cli(["export", "--out", taken, "--force"], env);
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stderr).toContain("error IO_ERROR");
    expect(readFileSync(strangerOfTaken, "utf8")).toBe("another file of somebody else");
    expect(readdirSync(taken)).toEqual(["inside"]);
    // And no temp file of the export's own is left.
    expect(
      readdirSync(dir)
        .filter((name) => name.endsWith(".tmp"))
        .sort(),
    ).toEqual([basename(stranger), basename(strangerOfTaken)].sort());
  });

  it("csv refuses a value the SDK layout cannot hold", async () => {
    const { dir, file, key, env } = newStore();
    const store = await EncryptedFileStore.open({ path: file, key });
    await store.saveToken({ ...sampleToken("a"), redirectUrl: "https://example.com/a,b" });
    const result = await cli(["export", "--out", join(dir, "x.csv")], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("redirect_url holds a comma or a line break");
    expect(statSafe(join(dir, "x.csv"))).toBe(false);
  });
});

describe("import --dry-run", () => {
  it("reports what an import would add, update or leave, and writes nothing (no store created, none changed)", async () => {
    const { dir, file, key, env } = newStore();
    const csv = join(dir, "sdk.csv");
    const [a, b, c] = [sampleToken("a"), sampleToken("b"), sampleToken("c")];
    writeFileSync(csv, sdkCsv([a, b]));
    const dry = await cli(["import", "--from-csv", csv, "--dry-run"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("line 2: would add a new token (user-a@example.com)");
    expect(dry.stdout).toMatch(/dry run: would add 2, update 0, leave 0 unchanged in .*; nothing was written/);
    expect(statSafe(file)).toBe(false);
    expect((await cli(["import", "--from-csv", csv], env)).code).toBe(0);
    const before = await records(file, key);
    writeFileSync(csv, sdkCsv([{ ...a, accessToken: "1000.access-a-new" }, b, c]));
    const report = jsonResult((await cli(["import", "--from-csv", csv, "--dry-run", "--json"], env)).stdout);
    expect(report).toMatchObject({ dryRun: true, added: 1, updated: 1, unchanged: 1, writes: 0 });
    expect(await records(file, key)).toEqual(before);
    assertNoSecrets(JSON.stringify(report) + dry.stdout + dry.stderr, [...secretsOf(a), ...secretsOf(c)]);
  });
});
