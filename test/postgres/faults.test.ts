/**
 * Faults on a PostgreSQL store: a lease holder killed mid-refresh holds the others up no
 * longer than its lease; a row put back to an older sealed copy is refused by a process
 * that saw the newer one (and, as documented, not by one that never did).
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openPostgresStore } from "../../src/backend/postgres/index.js";
import { generateKey, isTokenStoreError } from "../../src/index.js";
import { fixture, sampleToken } from "../helpers.js";
import { startPostgres, type PostgresServer } from "../servers/postgres.js";

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

it("a lease holder killed mid-refresh holds the others up no longer than its lease", async () => {
  const { url } = await server.createDatabase();
  const key = generateKey();
  const holder = spawn(process.execPath, [fixture("pg-lease-holder.mjs"), url, "renewal-key", "1500"], {
    env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const outcome = await new Promise<string>((resolve) => holder.stdout.on("data", (chunk: Buffer) => resolve(chunk.toString().trim())));
  expect(outcome).toBe("acquired");
  holder.kill("SIGKILL");
  await new Promise((resolve) => holder.on("close", resolve));
  const store = await openPostgresStore({ postgres: url, key });
  try {
    const coordinator = store.refreshCoordinator({ leaseMs: 20_000 });
    const started = Date.now();
    // The killed holder's row is still there: a waiter waits for it, then takes it over.
    expect(await coordinator.claim("renewal-key", async () => false)).toBe("acquired");
    const waited = Date.now() - started;
    expect(waited).toBeLessThan(20_000);
    await coordinator.release("renewal-key");
  } finally {
    await store.close();
  }
}, 60_000);

it("a row put back to an older copy: ROLLBACK_DETECTED for a process that saw the newer one", async () => {
  const { url, name } = await server.createDatabase();
  const key = generateKey();
  const store = await openPostgresStore({ postgres: url, key });
  try {
    await store.saveToken(sampleToken("a"));
    await store.saveToken(sampleToken("b"));
    const old = await server.query("SELECT sealed FROM zoho_tokens WHERE id = 'r.1'", [], name);
    await store.saveToken({ userName: "user-a@example.com", accessToken: "1000.access-a-newer" });
    expect((await store.findTokenById("1"))?.accessToken).toBe("1000.access-a-newer");
    // Someone with write access puts the older sealed row back (and marks it changed).
    await server.query(
      "UPDATE zoho_tokens SET sealed = $1, written = (SELECT version + 1 FROM zoho_tokens_heads) WHERE id = 'r.1'",
      [old.rows[0]!.sealed],
      name,
    );
    await server.query("UPDATE zoho_tokens_heads SET version = version + 1", [], name);
    // A change without the head (which every write rewrites) is not a write of the store.
    expect(isTokenStoreError(await store.findTokenById("1").catch((e) => e), "DAMAGED_FILE")).toBe(true);
    // With the head marked changed too (its bytes as they were), the older row is seen for what it is.
    await server.query("UPDATE zoho_tokens SET written = (SELECT version FROM zoho_tokens_heads) WHERE id = 'head'", [], name);
    const error = await store.findTokenById("1").catch((e) => e);
    expect(isTokenStoreError(error, "ROLLBACK_DETECTED")).toBe(true);
    // A process that never saw the newer row cannot tell (docs/postgres.md says so).
    const fresh = await openPostgresStore({ postgres: url, key });
    expect((await fresh.findTokenById("1"))?.accessToken).toBe("1000.access-a-at");
    await fresh.close();
  } finally {
    await store.close();
  }
});
