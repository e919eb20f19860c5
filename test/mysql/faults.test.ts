/**
 * Faults on a MariaDB store: a lease holder killed mid-refresh holds the others up no
 * longer than its lease; a row put back to an older sealed copy is refused by a process
 * that saw the newer one (and, as for every SQL store, not by one that never did).
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { generateKey, isTokenStoreError } from "../../src/index.js";
import { fixture, sampleToken } from "../helpers.js";
import { skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const skip = skipWithoutMariadb("the MySQL/MariaDB fault suite (test/mysql/faults.test.ts)");
let server: MysqlServer;
beforeAll(async () => {
  if (!skip) server = await startMariadb();
});
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(skip)("faults on MariaDB", () => {
  it("a lease holder killed mid-refresh holds the others up no longer than its lease", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const holder = spawn(process.execPath, [fixture("mysql-lease-holder.mjs"), url, "renewal-key", "1500"], {
      env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const outcome = await new Promise<string>((resolve) => holder.stdout.on("data", (chunk: Buffer) => resolve(chunk.toString().trim())));
    expect(outcome).toBe("acquired");
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.on("close", resolve));
    // The killed holder's row is still there.
    expect(await server.query("SELECT COUNT(*) AS n FROM zoho_tokens_leases", [], name)).toEqual([{ n: 1 }]);
    const store = await openMysqlStore({ mysql: url, key });
    try {
      const coordinator = store.refreshCoordinator({ leaseMs: 20_000 });
      // A waiter waits for it to expire on the server's clock, then takes it over (before its own 20 s are up).
      expect(await coordinator.claim("renewal-key", async () => false)).toBe("acquired");
      await coordinator.release("renewal-key");
      expect(await server.query("SELECT COUNT(*) AS n FROM zoho_tokens_leases", [], name)).toEqual([{ n: 0 }]);
    } finally {
      await store.close();
    }
  }, 60_000);

  it("a row put back to an older copy: ROLLBACK_DETECTED for a process that saw the newer one", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const store = await openMysqlStore({ mysql: url, key });
    try {
      await store.saveToken(sampleToken("a"));
      await store.saveToken(sampleToken("b"));
      const [old] = await server.query("SELECT sealed FROM zoho_tokens WHERE id = 'r.1'", [], name);
      await store.saveToken({ userName: "user-a@example.com", accessToken: "1000.access-a-newer" });
      expect((await store.findTokenById("1"))?.accessToken).toBe("1000.access-a-newer");
      // Someone with write access puts the older sealed row back (and marks it changed).
      await server.query(
        "UPDATE zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace SET r.sealed = ?, r.written = h.version + 1, h.version = h.version + 1 WHERE r.id = 'r.1'",
        [old.sealed],
        name,
      );
      // A change without the head (which every write rewrites) is not a write of the store.
      expect(isTokenStoreError(await store.findTokenById("1").catch((e) => e), "DAMAGED_FILE")).toBe(true);
      // With the head marked changed too (its bytes as they were), the older row is seen for what it is.
      await server.query("UPDATE zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace SET r.written = h.version WHERE r.id = 'head'", [], name);
      expect(isTokenStoreError(await store.findTokenById("1").catch((e) => e), "ROLLBACK_DETECTED")).toBe(true);
      // A process that never saw the newer row cannot tell.
      const fresh = await openMysqlStore({ mysql: url, key });
      expect((await fresh.findTokenById("1"))?.accessToken).toBe("1000.access-a-at");
      await fresh.close();
    } finally {
      await store.close();
    }
  });
});
