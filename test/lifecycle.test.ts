/**
 * Lifecycle and neutral words: close() on the store and the adapter (which closes only
 * a store it opened), the refresh coordinator's release awaited and never failing a
 * save, `location` beside the deprecated `path`, and the codes split from older ones.
 */
import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { join } from "node:path";
import {
  EncryptedFileStore,
  EncryptedTokenStore,
  ErrorCodeAliases,
  MemoryBackend,
  TokenStoreError,
  generateKey,
  isTokenStoreError,
  zohoTokenStore,
  type RefreshCoordinator,
  type ZohoOAuthToken,
  type ZohoSdkNamespace,
} from "../src/index.js";
import { tempDir } from "./helpers.js";

const require = createRequire(import.meta.url);
const SDK = require("@zohocrm/typescript-sdk-8.0") as ZohoSdkNamespace & Record<string, any>;

function renewed(user: string): ZohoOAuthToken {
  const token = new SDK.OAuthBuilder()
    .clientId("1000.CLIENTLIFE")
    .clientSecret("secret-life")
    .refreshToken(`1000.refresh-${user}`)
    .userSignature(new SDK.UserSignature(user))
    .build() as ZohoOAuthToken;
  token.setAccessToken(`1000.access-${user}`);
  token.setExpiresIn(String(Date.now() + 3_600_000));
  return token;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("close", () => {
  it("the adapter closes the store it opened from options", async () => {
    const adapter = await zohoTokenStore(SDK, { path: join(tempDir(), "t.enc"), key: generateKey() });
    await adapter.saveToken(renewed("ann@example.com"));
    await adapter.close();
    expect(isTokenStoreError(await rejection(adapter.encryptedStore.getTokens()), "CLOSED")).toBe(true);
    await adapter[Symbol.asyncDispose]();
  });

  it("the adapter leaves a store it was given open: its owner closes it", async () => {
    const core = await EncryptedFileStore.open({ path: join(tempDir(), "t.enc"), key: generateKey() });
    const adapter = await zohoTokenStore(SDK, { store: core });
    await adapter.saveToken(renewed("bob@example.com"));
    await adapter.close();
    expect(await core.getTokens()).toHaveLength(1);
    await core[Symbol.asyncDispose]();
    expect(isTokenStoreError(await rejection(core.getTokens()), "CLOSED")).toBe(true);
  });

  it("a store closes its backend once, after what was under way", async () => {
    let closed = 0;
    const backend = new MemoryBackend();
    const close = backend.close.bind(backend);
    backend.close = async () => {
      closed += 1;
      await close();
    };
    const store = await EncryptedTokenStore.openBackend(backend, { key: generateKey() });
    const saving = store.saveToken({ userName: "u", refreshToken: "1000.r" });
    await Promise.all([store.close(), store.close()]);
    expect((await saving).id).toBe("1");
    expect(closed).toBe(1);
  });
});

describe("the refresh coordinator's release", () => {
  /** A store whose coordinator's release is slow, or fails. */
  async function storeWith(release: (key: string) => Promise<void>) {
    const core = await EncryptedTokenStore.openBackend(new MemoryBackend(), { key: generateKey() });
    const coordinator: RefreshCoordinator = { leaseMs: 10_000, claim: async () => "acquired", release };
    const wrapped = Object.assign(Object.create(core) as EncryptedTokenStore, {
      refreshCoordinator: () => coordinator,
      findToken: core.findToken.bind(core),
      findTokenById: core.findTokenById.bind(core),
      saveToken: core.saveToken.bind(core),
      deleteToken: core.deleteToken.bind(core),
      getTokens: core.getTokens.bind(core),
      deleteTokens: core.deleteTokens.bind(core),
    });
    return { core, adapter: await zohoTokenStore(SDK, { store: wrapped }) };
  }

  it("is awaited before a save resolves", async () => {
    const events: string[] = [];
    const { adapter } = await storeWith(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push("released");
    });
    await adapter.saveToken(renewed("cid@example.com"));
    events.push("saved");
    expect(events[0]).toBe("released");
    expect(events.at(-1)).toBe("saved");
  });

  it("never fails a save when it throws, even synchronously", async () => {
    const { adapter, core } = await storeWith((() => {
      throw new Error("a synchronous release that throws");
    }) as never);
    await expect(adapter.saveToken(renewed("eve@example.com"))).resolves.toBeUndefined();
    expect(await core.getTokens()).toHaveLength(1);
  });

  it("never fails a save when it fails", async () => {
    const { adapter, core } = await storeWith(async () => {
      throw new TokenStoreError("UNAVAILABLE", "the lease row could not be deleted");
    });
    await expect(adapter.saveToken(renewed("dee@example.com"))).resolves.toBeUndefined();
    expect(await core.getTokens()).toHaveLength(1);
  });
});

describe("neutral words and codes", () => {
  it("a store's status, JSON and errors say location; path stays as its alias", async () => {
    const path = join(tempDir(), "t.enc");
    const store = await EncryptedFileStore.open({ path, key: generateKey() });
    const status = await store.verify();
    expect(status.location).toBe(path);
    expect(status.path).toBe(path);
    expect(JSON.parse(JSON.stringify(store))).toEqual({ location: path, path });
    const error = await rejection(EncryptedFileStore.open({ path, key: generateKey() }).then((other) => other.recover()));
    expect(error).toMatchObject({ code: "FILE_MISSING", location: path, path });
  });

  it("WRITE_CONFLICT is its own code and still matches LOCK_COMPROMISED, the code it had", () => {
    const conflict = new TokenStoreError("WRITE_CONFLICT", "changed");
    expect(conflict.code).toBe("WRITE_CONFLICT");
    expect(isTokenStoreError(conflict, "WRITE_CONFLICT")).toBe(true);
    expect(isTokenStoreError(conflict, "LOCK_COMPROMISED")).toBe(true);
    expect(isTokenStoreError(new TokenStoreError("LOCK_COMPROMISED", "lost"), "WRITE_CONFLICT")).toBe(false);
    expect(isTokenStoreError(new TokenStoreError("UNAVAILABLE", "down"), "IO_ERROR")).toBe(false);
    expect(ErrorCodeAliases).toEqual({ LOCK_COMPROMISED: ["WRITE_CONFLICT"] });
  });
});
