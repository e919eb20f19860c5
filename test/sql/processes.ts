/**
 * The process suite both SQL stores run (test/postgres/processes.test.ts and
 * test/mysql/processes.test.ts): writer processes, each with a pool of its own as separate
 * hosts would have (test/fixtures/sql-writer.mjs, the built package): no save lost under
 * contention, and connections ended and the server restarted mid-run give coded errors for
 * the calls they hit, nothing half-written, and the next call works. A dialect gives its
 * server, its store and how it ends the connections of a database.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EncryptedTokenStore, generateKey } from "../../src/index.js";
import { fixture, runNode } from "../helpers.js";
import { notRun } from "../servers/postgres.js";

/** What the suite needs of a test server (PostgresServer and MysqlServer have it). */
export interface ProcessesServer {
  readonly password: string;
  createDatabase(): Promise<{ name: string; url: string }>;
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export interface ProcessesDialect<S extends ProcessesServer> {
  /** The writer's dialect argument (and the store option's name). */
  dialect: "postgres" | "mysql";
  /** The describe block's name. */
  title: string;
  /** True when the whole suite is not run (its NOT RUN notice already printed); default false. */
  skip?: boolean;
  /** The environment variable naming an existing server: with it set, the fault case (which restarts the server) is not run. */
  externalEnv: string;
  /** The fault case as the NOT RUN notice names it. */
  faultsCase: string;
  start(): Promise<S>;
  open(url: string, key: string): Promise<EncryptedTokenStore>;
  /** Saves per process in the contention case: [npm test, STRESS=1]. */
  contention: [number, number];
  /** The timeout of each writer in the contention case. */
  writerTimeoutMs: number;
  /** The fault case's name (which faults, in the order they come). */
  faultsTitle: string;
  /** Ends every other connection to `database`, returning how many it ended. */
  endConnections(server: S, database: string): Promise<number>;
}

export function processesSuite<S extends ProcessesServer>(d: ProcessesDialect<S>): void {
  const STRESS = process.env.STRESS === "1";
  const external = process.env[d.externalEnv] !== undefined;
  if (external) notRun(d.faultsCase, `the server is an existing one (${d.externalEnv}): the tests do not restart it`);
  let server: S;
  beforeAll(async () => {
    if (!d.skip) server = await d.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function storedUsers(url: string, key: string): Promise<string[]> {
    const store = await d.open(url, key);
    try {
      const tokens = await store.getTokens();
      expect(new Set(tokens.map((t) => t.id)).size).toBe(tokens.length);
      return tokens.map((t) => t.userName!);
    } finally {
      await store.close();
    }
  }

  describe.skipIf(d.skip === true)(d.title, () => {
    const per = STRESS ? d.contention[1] : d.contention[0];
    it(`8 processes x ${per} saves, each with its own pool: 0 lost, ids unique`, async () => {
      const { url } = await server.createDatabase();
      const key = generateKey();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, p) =>
          runNode(fixture("sql-writer.mjs"), [d.dialect, url, "default", `p${p}`, String(per)], { ZOHO_TOKEN_STORE_KEY: key }, d.writerTimeoutMs),
        ),
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

    it.skipIf(external)(
      d.faultsTitle,
      async () => {
        const { url, name } = await server.createDatabase();
        const key = generateKey();
        const per = STRESS ? 400 : 120;
        const writers = Array.from({ length: 3 }, (_, p) => {
          const child = spawn(process.execPath, [fixture("sql-writer.mjs"), d.dialect, url, "default", `w${p}`, String(per)], {
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
        const first = await d.endConnections(server, name);
        await waitFor(acks() + 20);
        const second = await d.endConnections(server, name);
        expect(first + second).toBeGreaterThan(0);
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
}
