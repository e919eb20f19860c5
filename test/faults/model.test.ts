/**
 * The model check (test/contract/model.ts) on the file store, at full size: random
 * sequences of the six operations over two instances on one file.
 */
import { describe, it } from "vitest";
import fc from "fast-check";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { commandArb, runModelSequence, type Command } from "../contract/model.js";
import { tempDir } from "../helpers.js";
import { sized, STRESS } from "./support.js";

function fileStore(): () => Promise<EncryptedFileStore> {
  const path = join(tempDir(), "model.enc");
  const key = generateKey();
  return () => EncryptedFileStore.open({ path, key });
}

describe("model check against the SDK FileStore's rules", () => {
  const runs = sized(100, 1500);
  // Sequences this check once shrank a divergence to, kept so they always run first.
  const examples: Array<[Command[]]> = [
    [
      [
        { op: "sameTickSaves", on: 0, tokens: [{ refreshToken: "r1" }, { grantToken: "g1" }] },
        { op: "findToken", on: 0, token: { refreshToken: "r1", grantToken: "g1" } },
      ],
    ],
  ];
  it(
    `${runs} random sequences of the six operations over two instances on one file`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 25 }), (commands) => runModelSequence(commands, fileStore())),
        { numRuns: runs, examples },
      );
      console.log(`[fault figures] model ${JSON.stringify({ sequences: runs, maxLength: 25 })}`);
    },
    STRESS ? 1_800_000 : 120_000,
  );
});
