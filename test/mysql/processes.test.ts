/**
 * Processes on a MariaDB store, each with a pool of its own as separate hosts would have
 * (test/fixtures/mysql-writer.mjs, the built package): no save lost under contention, and
 * connections killed (KILL) and the server restarted mid-run give coded errors for the
 * calls they hit, nothing half-written, and the next call works.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { generateKey } from "../../src/index.js";
import { fixture, runNode } from "../helpers.js";
import { EXTERNAL_URL_ENV, notRun, skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const STRESS = process.env.STRESS === "1";
const skip = skipWithoutMariadb("the MySQL/MariaDB process suite (test/mysql/processes.test.ts)");
const EXTERNAL = process.env[EXTERNAL_URL_ENV] !== undefined;
if (EXTERNAL) notRun("the restart and KILL case of test/mysql/processes.test.ts", `the server is an existing one (${EXTERNAL_URL_ENV})`);
let server: MysqlServer;
beforeAll(async () => {
  if (!skip) server = await startMariadb();
});
afterAll(async () => {
  await server?.stop();
});

async function storedUsers(url: string, key: string): Promise<string[]> {
  const store = await openMysqlStore({ mysql: url, key });
  try {
    const tokens = await store.getTokens();
    expect(new Set(tokens.map((t) => t.id)).size).toBe(tokens.length);
    return tokens.map((t) => t.userName!);
  } finally {
    await store.close();
  }
}

describe.skipIf(skip)("processes on one MariaDB store", () => {
  it(`8 processes x ${STRESS ? 500 : 200} saves, each with its own pool: 0 lost, ids unique`, async () => {
    const { url } = await server.createDatabase();
    const key = generateKey();
    const per = STRESS ? 500 : 200;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, p) => runNode(fixture("mysql-writer.mjs"), [url, "default", `p${p}`, String(per)], { ZOHO_TOKEN_STORE_KEY: key }, 280_000)),
    );
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).not.toContain("error");
      expect(result.stdout.match(/^ack /gm)).toHaveLength(per);
      expect(result.stdout + result.stderr).not.toContain(server.password);
    }
    const users = new Set(await storedUsers(url, key));
    expect(users.size).toBe(8 * per);
    for (let p = 0; p < 8; p++) for (let i = 0; i < per; i++) expect(users.has(`p${p}-${i}`)).toBe(true);
  }, 300_000);

  it.skipIf(EXTERNAL)(
    "connections killed (KILL) and a server restart mid-run: coded errors (UNAVAILABLE) for the calls they hit, then every save lands",
    async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const per = STRESS ? 400 : 120;
      const writers = Array.from({ length: 3 }, (_, p) => {
        const child = spawn(process.execPath, [fixture("mysql-writer.mjs"), url, "default", `w${p}`, String(per)], {
          env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
        return { child, done, out: () => stdout, err: () => stderr };
      });
      const acks = () => writers.reduce((sum, w) => sum + (w.out().match(/^ack /gm)?.length ?? 0), 0);
      const waitFor = async (n: number) => {
        while (acks() < n) await new Promise((resolve) => setTimeout(resolve, 20));
      };
      const killAll = async () => {
        const rows = await server.query("SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()", [name]);
        for (const row of rows) await server.query(`KILL CONNECTION ${Number(row.id)}`).catch(() => undefined);
        return rows.length;
      };
      await waitFor(30);
      const first = await killAll();
      await waitFor(acks() + 20);
      const second = await killAll();
      expect(first + second).toBeGreaterThan(0);
      await waitFor(acks() + 20);
      await server.restart({ downMs: 500 });
      const codes = await Promise.all(writers.map((w) => w.done));
      for (const [index, writer] of writers.entries()) expect(codes[index], writer.err()).toBe(0);
      const errors = writers.flatMap((w) => w.out().match(/^error \S+/gm) ?? []);
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors)).toEqual(new Set(["error UNAVAILABLE"]));
      const users = new Set(await storedUsers(url, key));
      expect(users.size).toBe(3 * per);
      for (const writer of writers) expect(writer.out() + writer.err()).not.toContain(server.password);
    },
    300_000,
  );
});
