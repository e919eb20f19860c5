/**
 * The plain-record API: EncryptedFileStore, TokenRecord, TokenStoreError and its codes.
 */
import {
  EncryptedFileStore,
  generateKey,
  isTokenStoreError,
  redact,
  TokenStoreError,
  type ErrorCode,
  type TokenInput,
  type TokenRecord,
} from "zoho-encrypted-filestore";

export async function records(): Promise<string | null> {
  const store = await EncryptedFileStore.open({ path: "./zoho-tokens.enc", key: generateKey(), lockWaitMs: 20_000 });
  const input: TokenInput = { userName: "me@example.com", clientId: "1000.ID", clientSecret: "s", refreshToken: "1000.r" };
  const saved: TokenRecord = await store.saveToken(input);
  const id: string = saved.id;
  const found: TokenRecord | null = await store.findToken({ userName: "me@example.com" });
  const byId: TokenRecord | null = await store.findTokenById(id);
  const all: TokenRecord[] = await store.getTokens();
  const deleted: boolean = await store.deleteToken(id);
  await store.deleteTokens();
  const status = await store.verify();
  const tokens: number = status.tokens;
  void [byId, all, deleted, tokens, redact(saved)];
  // @ts-expect-error a record's fields are string | null
  const refresh: string = saved.refreshToken;
  // @ts-expect-error no such field
  await store.saveToken({ refresh_token: "1000.r" });
  // @ts-expect-error no such option
  await EncryptedFileStore.open({ path: "./zoho-tokens.enc", keyfile: "./zoho.key" });
  void refresh;
  return found === null ? null : found.refreshToken;
}

export function codes(error: unknown): string {
  if (error instanceof TokenStoreError) {
    const code: ErrorCode = error.code;
    switch (error.code) {
      case "WRONG_KEY":
        return "wrong key";
      case "LOCK_TIMEOUT":
        return `locked: ${error.path ?? ""}`;
      // @ts-expect-error a misspelt code: the union must not widen to string
      case "WRONG_KYE":
        return "never";
      default:
        return code;
    }
  }
  if (isTokenStoreError(error, "NOT_FOUND")) return error.message;
  // @ts-expect-error not an error code
  if (isTokenStoreError(error, "NOT_FUOND")) return "never";
  if (isTokenStoreError(error)) {
    // @ts-expect-error a misspelt code cannot equal error.code
    if (error.code === "DAMAGED_FILEE") return "never";
    return error.code;
  }
  return "other";
}
