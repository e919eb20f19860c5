/**
 * Processes on a PostgreSQL store, each with a pool of its own as separate hosts would
 * have (test/fixtures/pg-writer.mjs, the built package): no save lost under contention,
 * and a server restarted or connections terminated (pg_terminate_backend) mid-run give
 * coded errors for the calls they hit, nothing half-written, and the next call works.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore } from "../../src/backend/postgres/index.js";
import { generateKey } from "../../src/index.js";
import { fixture, runNode } from "../helpers.js";
import { EXTERNAL_URL_ENV, notRun, startPostgres, type PostgresServer } from "../servers/postgres.js";

const STRESS = process.env.STRESS === "1";
const EXTERNAL = process.env[EXTERNAL_URL_ENV] !== undefined;
if (EXTERNAL)
  notRun("the server restart case of test/postgres/processes.test.ts", `the server is an existing one (${EXTERNAL_URL_ENV}): the tests do not restart it`);
let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

async function storedUsers(url: string, key: string, namespace = "default"): Promise<string[]> {
  const store = await openPostgresStore({ postgres: url, key, namespace });
  try {
    const tokens = await store.getTokens();
    expect(new Set(tokens.map((t) => t.id)).size).toBe(tokens.length);
    return tokens.map((t) => t.userName!);
  } finally {
    await store.close();
  }
}

describe("processes on one PostgreSQL store", () => {
  it(`8 processes x ${STRESS ? 200 : 80} saves, each with its own pool: 0 lost, ids unique`, async () => {
    const { url } = await server.createDatabase();
    const key = generateKey();
    const per = STRESS ? 200 : 80;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, p) => runNode(fixture("pg-writer.mjs"), [url, "default", `p${p}`, String(per)], { ZOHO_TOKEN_STORE_KEY: key }, 240_000)),
    );
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).not.toContain("error");
      expect(result.stdout + result.stderr).not.toContain(server.password);
    }
    const users = new Set(await storedUsers(url, key));
    expect(users.size).toBe(8 * per);
    for (let p = 0; p < 8; p++) for (let i = 0; i < per; i++) expect(users.has(`p${p}-${i}`)).toBe(true);
  }, 300_000);

  it.skipIf(EXTERNAL)(
    "a server restart and terminated connections mid-run: coded errors (UNAVAILABLE) for the calls they hit, then every save lands",
    async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const per = STRESS ? 400 : 120;
      const writers = Array.from({ length: 3 }, (_, p) => {
        const child = spawn(process.execPath, [fixture("pg-writer.mjs"), url, "default", `w${p}`, String(per)], {
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
      // Connections ended mid-run, twice, then the whole server restarted.
      await waitFor(30);
      const terminate = `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`;
      const first = await server.query(terminate, [name]);
      await waitFor(acks() + 20);
      const second = await server.query(terminate, [name]);
      expect(first.rows[0]!.n + second.rows[0]!.n).toBeGreaterThan(0);
      await waitFor(acks() + 20);
      await server.restart({ downMs: 500 });
      const codes = await Promise.all(writers.map((w) => w.done));
      for (const [index, writer] of writers.entries()) expect(codes[index], writer.err()).toBe(0);
      const errors = writers.flatMap((w) => w.out().match(/^error \S+/gm) ?? []);
      // The calls the faults hit failed with a coded error, and only UNAVAILABLE.
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors)).toEqual(new Set(["error UNAVAILABLE"]));
      const users = new Set(await storedUsers(url, key));
      expect(users.size).toBe(3 * per);
      for (const writer of writers) expect(writer.out() + writer.err()).not.toContain(server.password);
    },
    300_000,
  );
});
