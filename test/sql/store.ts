/**
 * Store cases both SQL stores run (test/postgres/store.test.ts and test/mysql/store.test.ts),
 * inside each file's describe block: two pools (two hosts) sharing tokens with ids never
 * reused, and the SDK adapter's one line opening the store and closing the pool it made.
 */
import { expect, it } from "vitest";
import { type EncryptedTokenStore, generateKey, zohoTokenStore } from "../../src/index.js";
import { sampleToken } from "../helpers.js";

export interface StoreCasesDialect {
  /** The store option (`mysql` or `postgres`) and its name in prose. */
  option: "postgres" | "mysql";
  name: string;
  /** The server: a new database, and its password (never in a location). */
  server(): { password: string; createDatabase(): Promise<{ url: string }> };
  open(url: string, key: string): Promise<EncryptedTokenStore>;
  /** What the store's location looks like (no password in it, checked apart). */
  location: RegExp;
}

export function storeCases(d: StoreCasesDialect): void {
  it("two stores with pools of their own (two hosts) share tokens; ids are never reused", async () => {
    const { url } = await d.server().createDatabase();
    const key = generateKey();
    const a = await d.open(url, key);
    const b = await d.open(url, key);
    const one = await a.saveToken(sampleToken("one"));
    const two = await b.saveToken(sampleToken("two"));
    expect([one.id, two.id]).toEqual(["1", "2"]);
    expect((await a.findToken({ userName: "user-two@example.com" }))?.refreshToken).toBe("1000.refresh-two-rt");
    await b.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-one-new" });
    expect((await a.findTokenById("1"))?.accessToken).toBe("1000.access-one-new");
    expect(await a.deleteToken("2")).toBe(true);
    expect(await b.findTokenById("2")).toBeNull();
    expect((await b.saveToken(sampleToken("three"))).id).toBe("3");
    expect((await a.getTokens()).map((t) => t.id)).toEqual(["1", "3"]);
    await a.deleteTokens();
    expect(await b.getTokens()).toEqual([]);
    expect((await b.saveToken(sampleToken("four"))).id).toBe("4");
    const status = await b.verify();
    expect(status.location).toMatch(d.location);
    expect(status.location).not.toContain(d.server().password);
    expect(status.tokens).toBe(1);
  });

  it(`zohoTokenStore(SDK, { ${d.option}, key }) opens the store on ${d.name} and closes the pool it made`, async () => {
    const { url } = await d.server().createDatabase();
    const key = generateKey();
    const sdk = await import("@zohocrm/typescript-sdk-8.0");
    const adapter = await zohoTokenStore(sdk as any, { [d.option]: url, key } as any);
    const store = adapter.encryptedStore as EncryptedTokenStore;
    await store.saveToken(sampleToken("sdk"));
    expect((await adapter.getTokens()).length).toBe(1);
    await adapter.close();
    expect((await store.getTokens().catch((e) => e)).code).toBe("CLOSED");
  });
}
