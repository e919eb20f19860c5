import { TokenStoreError } from "../index.js";
import { defineCommand, missing, openStore, storeTarget } from "./command.js";
import { describeError } from "./exit.js";
import { printable } from "./format.js";
import { presence } from "./store-file.js";

/** What `verify` reports, by the store's error code. */
const STATUS: Record<string, string> = {
  WRONG_KEY: "wrong-key",
  DAMAGED_FILE: "damaged",
  UNSUPPORTED_VERSION: "unsupported-version",
  FILE_MISSING: "missing",
  INSECURE_PERMISSIONS: "insecure-permissions",
  INVALID_PATH: "invalid-path",
  ROLLBACK_DETECTED: "rolled-back",
};

const LABEL: Record<string, string> = {
  "wrong-key": "wrong key",
  damaged: "damaged",
  "unsupported-version": "unsupported version",
  missing: "missing",
};

export const verify = defineCommand(
  {
    name: "verify",
    summary: "check that the file opens and authenticates (exit 1 and say why when not)",
    usage: "[--file F] [--key-file K | --keychain [NAME]] [--json]",
    description: `Opens the store, decrypts and authenticates it. Exits 0 when it does; otherwise exits 1
and says which: wrong key, damaged, unsupported version, or missing (--json: "result"
holds "status": "ok", "wrong-key", "damaged", "unsupported-version", "missing", ...,
also on failure, and "error" the code and message).`,
    common: ["file", "key-file", "json"],
  },
  async (ctx) => {
    const target = storeTarget(ctx);
    const path = target.location;
    const found = await presence(target);
    try {
      if (!found.stored && !found.previous) throw missing(target);
      const { store, key } = await openStore(ctx, target);
      const status = await store.verify();
      if (!status.exists) throw missing(target);
      if (ctx.json) ctx.emit({ status: "ok", path, ...pick(status), keyFrom: key.source, previousGeneration: (await presence(target)).previous });
      else {
        ctx.print(
          `${ctx.out.green("ok")}: ${printable(path)} opens and authenticates: generation ${status.generation}, ${status.tokens} token${status.tokens === 1 ? "" : "s"}, ` +
            `${status.keySource === "passphrase" ? "passphrase" : "raw key"} from ${key.source}`,
        );
      }
      return;
    } catch (error) {
      if (!(error instanceof TokenStoreError)) throw error;
      const status = STATUS[error.code] ?? error.code.toLowerCase().replace(/_/g, "-");
      const report = describeError(error);
      const message = LABEL[status] ? `${LABEL[status]}: ${report.message}` : report.message;
      // What verify found is its result, also when it is a failure.
      ctx.emit({ status, path, generation: null, tokens: null, keySource: null, keyFrom: null, previousGeneration: (await presence(target)).previous });
      return ctx.fail({ code: report.code, message });
    }
  },
);

function pick(status: { generation: number; tokens: number; keySource: string | null; currentKey: boolean }) {
  return { generation: status.generation, tokens: status.tokens, keySource: status.keySource };
}
