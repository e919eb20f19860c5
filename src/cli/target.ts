/**
 * The store target a command works on, chosen in this one place: a store file (--file,
 * ZOHO_TOKEN_STORE_FILE, ./zoho-tokens.enc) or a server (--postgres URL or
 * ZOHO_TOKEN_STORE_POSTGRES, --mysql URL or ZOHO_TOKEN_STORE_MYSQL, with --namespace,
 * --table and, for PostgreSQL, --schema). A connection string with a password is refused
 * on the command line (it shows in ps and shell history) and accepted from the
 * environment; no message ever repeats it. The drivers load only for a server target.
 */
import { DEFAULT_STORE_FILE, EncryptedFileStore, type EncryptedTokenStore } from "../index.js";
import type { StorageBackend } from "../backend/types.js";
import type { KeyOption } from "./key.js";
import { CliError, usage } from "./exit.js";

export const POSTGRES_ENV = "ZOHO_TOKEN_STORE_POSTGRES";
export const MYSQL_ENV = "ZOHO_TOKEN_STORE_MYSQL";
export const STORE_FILE_ENV = "ZOHO_TOKEN_STORE_FILE";

export type ServerKind = "postgres" | "mysql";

export type Target =
  | { kind: "file"; path: string; location: string }
  | { kind: ServerKind; url: string; namespace?: string; table?: string; schema?: string; location: string };

/** What a command's context offers this file (a subset of command.ts's Context). */
export interface TargetSource {
  io: { env: Record<string, string | undefined> };
  string(name: string): string | undefined;
  path(given: string): string;
}

const ENV: Record<ServerKind, string> = { postgres: POSTGRES_ENV, mysql: MYSQL_ENV };

/** Whether a connection string carries a password (URL form, or PostgreSQL's key=value form). */
export function hasPassword(url: string): boolean {
  if (/(^|\s)password\s*=/i.test(url)) return true;
  try {
    return new URL(url).password !== "";
  } catch {
    // Not a URL: look for user:password@ by hand.
    return /^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(url);
  }
}

/** A connection string without its password, safe to print. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    for (const name of [...parsed.searchParams.keys()]) if (/pass/i.test(name)) parsed.searchParams.delete(name);
    return parsed.toString();
  } catch {
    return url.replace(/(^|\s)password\s*=\s*\S*/gi, "$1password=***");
  }
}

/**
 * A server target from a connection string. `option` names where it came from: a
 * command-line option (a password there is refused) or undefined for the environment.
 */
export function serverTarget(
  kind: ServerKind,
  url: string,
  option: string | undefined,
  names: { namespace?: string | undefined; table?: string | undefined; schema?: string | undefined },
): Target {
  if (option !== undefined && hasPassword(url)) {
    const where =
      kind === "postgres" ? `put the URL in ${POSTGRES_ENV}, or the password in PGPASSWORD or ~/.pgpass` : `put the URL, password included, in ${MYSQL_ENV}`;
    throw usage(`${option} is not accepted with a password in it: passwords never go on the command line (they show in ps and shell history); ${where}`);
  }
  if (url === "") throw usage(`${option ?? ENV[kind]} is empty; give a connection string (${kind}://user@host/database)`);
  if (kind === "mysql" && names.schema !== undefined) throw usage("--schema is for PostgreSQL; a MySQL store's tables live in the URL's database");
  const table = names.table ?? "zoho_tokens";
  const namespace = names.namespace ?? "default";
  const where = `${withoutPassword(url)}?table=${kind === "postgres" ? `${names.schema ?? "public"}.` : ""}${table}&namespace=${encodeURIComponent(namespace)}`;
  return {
    kind,
    url,
    location: where,
    ...(names.namespace === undefined ? {} : { namespace: names.namespace }),
    ...(names.table === undefined ? {} : { table: names.table }),
    ...(names.schema === undefined ? {} : { schema: names.schema }),
  };
}

/**
 * The target of a command: --postgres, --mysql or --file from the command line, else
 * ZOHO_TOKEN_STORE_POSTGRES or ZOHO_TOKEN_STORE_MYSQL, else the store file
 * (ZOHO_TOKEN_STORE_FILE, else ./zoho-tokens.enc). Two of them at once is a usage error.
 */
export function storeTarget(ctx: TargetSource): Target {
  const names = { namespace: ctx.string("namespace"), table: ctx.string("table"), schema: ctx.string("schema") };
  const given = (["file", "postgres", "mysql"] as const).filter((name) => ctx.string(name) !== undefined);
  if (given.length > 1) throw usage(`${given.map((name) => `--${name}`).join(" and ")} name two stores; give one`);
  const file = ctx.string("file");
  const named = given[0];
  if (named === "postgres" || named === "mysql") return serverTarget(named, ctx.string(named)!, `--${named}`, names);
  if (named === undefined) {
    const fromEnv = (["postgres", "mysql"] as const).filter((kind) => Boolean(ctx.io.env[ENV[kind]]));
    if (fromEnv.length > 1) throw usage(`both ${POSTGRES_ENV} and ${MYSQL_ENV} are set; give --file, --postgres or --mysql to choose`);
    const kind = fromEnv[0];
    if (kind !== undefined && !ctx.io.env[STORE_FILE_ENV]) return serverTarget(kind, ctx.io.env[ENV[kind]]!, undefined, names);
  }
  if (names.namespace !== undefined || names.table !== undefined || names.schema !== undefined) {
    throw usage("--namespace, --table and --schema are for a server store (--postgres or --mysql)");
  }
  const path = ctx.path(file ?? (ctx.io.env[STORE_FILE_ENV] || DEFAULT_STORE_FILE));
  return { kind: "file", path, location: path };
}

/** Refuses a command that works on a store file only. */
export function fileOnly(target: Target, command: string, why: string): Extract<Target, { kind: "file" }> {
  if (target.kind === "file") return target;
  throw new CliError("FILE_ONLY", `'${command}' works on a store file only (${why}); nothing was changed`);
}

function serverOptions(target: Extract<Target, { kind: ServerKind }>): Record<string, unknown> {
  return {
    [target.kind]: target.url,
    ...(target.namespace === undefined ? {} : { namespace: target.namespace }),
    ...(target.table === undefined ? {} : { table: target.table }),
    ...(target.schema === undefined ? {} : { schema: target.schema }),
  };
}

/** The backend of a server target for key-free inspection: it checks and creates nothing. Close it after use. */
export async function serverBackend(target: Extract<Target, { kind: ServerKind }>): Promise<StorageBackend> {
  if (target.kind === "postgres") {
    const { openPostgresBackend } = await import("../backend/postgres/index.js");
    return openPostgresBackend(serverOptions(target) as never, { check: false });
  }
  const { openMysqlBackend } = await import("../backend/mysql/index.js");
  return openMysqlBackend(serverOptions(target) as never, { check: false });
}

/**
 * Opens the store of `target` with a key. On a server, `create` lets it create the
 * tables (init, import, copy); otherwise missing tables are an error.
 */
export async function openTargetStore(
  target: Target,
  key: KeyOption,
  { previousKeys, create = false }: { previousKeys?: readonly unknown[] | undefined; create?: boolean } = {},
): Promise<EncryptedTokenStore> {
  const keys = previousKeys && previousKeys.length > 0 ? { previousKeys } : {};
  if (target.kind === "file") return EncryptedFileStore.open({ path: target.path, ...key, ...(keys as object) });
  const options = { ...serverOptions(target), ...key, ...keys, createSchema: create };
  if (target.kind === "postgres") {
    const { openPostgresStore } = await import("../backend/postgres/index.js");
    return openPostgresStore(options as never);
  }
  const { openMysqlStore } = await import("../backend/mysql/index.js");
  return openMysqlStore(options as never);
}
