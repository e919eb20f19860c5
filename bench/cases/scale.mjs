// Scale: 10, 1,000 and 10,000 tokens stored. findToken should stay flat, saveToken grow
// no faster than the file, and the cipher (this store's seal and unseal, from
// `zoho-encrypted-filestore/internal`) keep up with node:crypto's AES-256-GCM.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { makeToken, refreshOf } from "../lib/data.mjs";
import { CaseResult, formatBytes, formatNs, formatRatio } from "../lib/report.mjs";
import { timeInterleaved } from "../lib/timing.mjs";
import { makeFloor } from "../subjects/floor.mjs";
import { loadInternal, openStore, seedStore } from "../subjects/store.mjs";

const SIZES = [10, 1000, 10_000];

export async function run(ctx) {
  const internal = await loadInternal();
  const r = new CaseResult("scale", "scale: 10, 1,000 and 10,000 tokens stored");
  // Every store first, so that the finds of the three sizes run interleaved (the same
  // load hits all three) and "flat" compares like with like.
  const setups = [];
  for (const count of SIZES) {
    const dir = ctx.mkdir(`scale-${count}`);
    const storePath = join(dir, "store", "tokens.enc");
    const store = await openStore(storePath, ctx.key);
    await seedStore(store, count);
    const fileBytes = fs.statSync(storePath).size;
    const plainBytes = fileBytes - internal.HEADER_BYTES - internal.TAG_BYTES;
    const users = Array.from({ length: Math.min(count, 100) }, (_, i) => makeToken(Math.floor((i * count) / Math.min(count, 100))).userName);
    const floorDir = join(dir, "floor");
    fs.mkdirSync(floorDir, { mode: 0o700 });
    const floor = makeFloor(floorDir, fileBytes);
    setups.push({ count, store, fileBytes, plainBytes, users, floor });
  }
  const finds = await timeInterleaved(
    setups.map(({ count, store, users }) => ({
      name: `find ${count}`,
      ops: ctx.quick ? 500 : 3000,
      run: (i) => store.findToken({ userName: users[i % users.length] }),
    })),
    { rounds: ctx.quick ? 2 : 10, warmup: 2000 },
  );
  const perSize = [];
  for (const { count, store, fileBytes, plainBytes, users, floor } of setups) {
    const saveOps = ctx.quick ? 3 : count >= 10_000 ? 4 : count >= 1000 ? 10 : 20;
    const saveRounds = ctx.quick ? 2 : count >= 10_000 ? 8 : 10;
    const saveStats = await timeInterleaved(
      [
        { name: "save", ops: saveOps, run: (i) => store.saveToken(refreshOf(users, i)) },
        { name: "floor", ops: saveOps, run: floor },
      ],
      { rounds: saveRounds, warmup: 3 },
    );
    const cipherStats = await timeCipher(ctx, internal, plainBytes);
    const label = `${count.toLocaleString("en-US")} tokens (${formatBytes(plainBytes)} JSON)`;
    const find = finds.get(`find ${count}`);
    r.row(`${label}: findToken`, find);
    r.row(`${label}: saveToken`, saveStats.get("save"));
    r.row(`${label}: floor, same bytes`, saveStats.get("floor"), { ref: `${label}: saveToken` });
    r.row(`${label}: seal (HKDF + AES-256-GCM)`, cipherStats.get("seal"));
    r.row(`${label}: node:crypto AES-256-GCM encrypt`, cipherStats.get("node:crypto encrypt"), { ref: `${label}: seal (HKDF + AES-256-GCM)` });
    r.row(`${label}: unseal`, cipherStats.get("unseal"));
    r.row(`${label}: node:crypto AES-256-GCM decrypt`, cipherStats.get("node:crypto decrypt"), { ref: `${label}: unseal` });
    perSize.push({
      count,
      plainBytes,
      fileBytes,
      find,
      save: saveStats.get("save"),
      floor: saveStats.get("floor"),
      seal: cipherStats.get("seal"),
      nodeEncrypt: cipherStats.get("node:crypto encrypt"),
      unseal: cipherStats.get("unseal"),
      nodeDecrypt: cipherStats.get("node:crypto decrypt"),
    });
  }
  checkTargets(r, perSize);
  r.note(
    "seal includes the per-write HKDF subkey, the header and its check; the node:crypto rows encrypt (decrypt) the same number of bytes with a fixed key.",
  );
  r.extra.perSize = perSize.map(({ count, plainBytes, fileBytes }) => ({ count, plainBytes, fileBytes }));
  return r;
}

/**
 * The cipher alone: this store's seal (HKDF subkey + AES-256-GCM + header, as the
 * header and the ciphertext the store writes one after the other) against node:crypto's
 * AES-256-GCM on a buffer of the same size, giving the same parts.
 */
async function timeCipher(ctx, internal, plainBytes) {
  const plaintext = randomBytes(plainBytes);
  const master = internal.rawMasterKey(new Uint8Array(randomBytes(32)));
  const nodeKey = randomBytes(32);
  const header = randomBytes(internal.HEADER_BYTES);
  const sealed = await internal.seal(plaintext, master, 1);
  const nodeSealed = (() => {
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", nodeKey, nonce);
    cipher.setAAD(header);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { nonce, ciphertext, tag: cipher.getAuthTag() };
  })();
  const cipherOps = ctx.quick ? 5 : Math.max(20, Math.min(2000, Math.floor(4e7 / Math.max(plainBytes, 1) / 4)));
  return timeInterleaved(
    [
      { name: "seal", ops: cipherOps, run: () => internal.sealParts(plaintext, master, 2) },
      {
        name: "node:crypto encrypt",
        ops: cipherOps,
        run: () => {
          const cipher = createCipheriv("aes-256-gcm", nodeKey, randomBytes(12));
          cipher.setAAD(header);
          return [header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()];
        },
      },
      { name: "unseal", ops: cipherOps, run: () => internal.unseal(sealed, master, "bench") },
      {
        name: "node:crypto decrypt",
        ops: cipherOps,
        run: () => {
          const decipher = createDecipheriv("aes-256-gcm", nodeKey, nodeSealed.nonce);
          decipher.setAAD(header);
          decipher.setAuthTag(nodeSealed.tag);
          return Buffer.concat([decipher.update(nodeSealed.ciphertext), decipher.final()]);
        },
      },
    ],
    { rounds: ctx.quick ? 2 : 5, warmup: 10 },
  );
}

function checkTargets(r, perSize) {
  const first = perSize[0];
  const last = perSize[perSize.length - 1];
  const findGrowth = last.find.medianNs / first.find.medianNs;
  r.target(
    "warm findToken flat from 10 to 10,000 tokens (median grows < 1.5x)",
    findGrowth < 1.5,
    `${formatNs(first.find.medianNs)} -> ${formatNs(last.find.medianNs)} (${formatRatio(findGrowth)})`,
  );
  for (let i = 1; i < perSize.length; i++) {
    const a = perSize[i - 1];
    const b = perSize[i];
    const timeGrowth = b.save.medianNs / a.save.medianNs;
    const sizeGrowth = b.fileBytes / a.fileBytes;
    r.target(
      `saveToken grows no faster than the file, ${a.count} -> ${b.count} tokens`,
      timeGrowth <= sizeGrowth,
      `time ${formatRatio(timeGrowth)}, size ${formatRatio(sizeGrowth)} (floor ${formatRatio(b.floor.medianNs / a.floor.medianNs)})`,
    );
  }
  for (const s of perSize) {
    const mibps = (ns) => s.plainBytes / (1024 * 1024) / (ns / 1e9);
    const ratio = s.nodeEncrypt.medianNs / s.seal.medianNs;
    r.target(
      `seal throughput >= 0.5x node:crypto AES-256-GCM at ${formatBytes(s.plainBytes)}`,
      ratio >= 0.5,
      `${mibps(s.seal.medianNs).toFixed(0)} MiB/s vs ${mibps(s.nodeEncrypt.medianNs).toFixed(0)} MiB/s (${formatRatio(ratio)}); unseal ${mibps(s.unseal.medianNs).toFixed(0)} MiB/s vs ${mibps(s.nodeDecrypt.medianNs).toFixed(0)} MiB/s`,
    );
  }
}
