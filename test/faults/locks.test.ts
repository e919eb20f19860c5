/**
 * Mutual exclusion, proven from a trace rather than from final counts, and stale or
 * stolen locks: a holder whose process stops or whose event loop stalls past the stale
 * time, lock directories left by dead processes at start-up, raced for by many writers
 * under file-system delays, dated in the future, or with files put inside them; and
 * timeouts, which are LOCK_TIMEOUT whatever the wait.
 *
 * The writers are real processes (test/fixtures/fault-writer.mjs) that log, from
 * outside the store's code, when they create and remove the lock directory and when
 * they rename a new store file into place.
 */
import { describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { contendedLockWaitMs, fixture, runNode, tempDir } from "../helpers.js";
import { bytesOf, expectBytes, failure, listing, outcome, registerSecrets, sized, sleep, STRESS, userNames } from "./support.js";

/**
 * Checks a trace of "<pid" (entered), "=pid" (committed a write), ">pid" (left) lines:
 * at most one process inside at any time, every commit by the process inside, every
 * process that entered left. Returns how many times the section was entered and written.
 */
export function checkExclusion(trace: string): { entries: number; commits: number } {
  let inside: string | undefined;
  let entries = 0;
  let commits = 0;
  trace
    .split("\n")
    .filter(Boolean)
    .forEach((line, index) => {
      const mark = line[0];
      const pid = line.slice(1);
      const where = `line ${index + 1} (${line})`;
      if (mark === "<") {
        if (inside !== undefined) throw new Error(`${where}: entered while ${inside} was inside`);
        inside = pid;
        entries++;
      } else if (mark === ">") {
        if (inside !== pid) throw new Error(`${where}: left without being inside (inside: ${inside ?? "nobody"})`);
        inside = undefined;
      } else if (mark === "=") {
        if (inside !== pid) throw new Error(`${where}: wrote the store file outside the lock (inside: ${inside ?? "nobody"})`);
        commits++;
      } else {
        throw new Error(`${where}: unknown trace line`);
      }
    });
  if (inside !== undefined) throw new Error(`${inside} never left`);
  return { entries, commits };
}

function spawnWriter(
  path: string,
  prefix: string,
  count: number,
  env: Record<string, string>,
): { child: ChildProcess; output: Promise<{ code: number | null; stdout: string; stderr: string }>; stalled: Promise<void> } {
  const child = spawn(process.execPath, [fixture("fault-writer.mjs"), path, prefix, String(count)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let onStall: () => void;
  const stalled = new Promise<void>((resolve) => (onStall = resolve));
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("stalled")) onStall();
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const output = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, output, stalled };
}

/**
 * Resolves once `child` has stopped itself (SIGSTOP after printing "stalled"): a SIGCONT
 * sent before that would be lost, and the child would stay stopped.
 */
async function stoppedNow(child: ChildProcess): Promise<void> {
  const stat = `/proc/${child.pid}/stat`;
  if (!existsSync(stat)) return sleep(1000);
  // The state is the field after the command name, which is in parentheses.
  while (!/\) [Tt] /.test(readFileSync(stat, "utf8"))) await sleep(5);
}

describe("mutual exclusion", () => {
  it("the checker itself catches an overlap, a write outside the lock and a holder that never left", () => {
    expect(checkExclusion("<1\n=1\n>1\n<2\n=2\n>2\n")).toEqual({ entries: 2, commits: 2 });
    expect(() => checkExclusion("<1\n<2\n>1\n>2\n")).toThrow(/entered while 1 was inside/);
    expect(() => checkExclusion("<1\n>1\n=2\n")).toThrow(/outside the lock/);
    expect(() => checkExclusion("<1\n=2\n>1\n")).toThrow(/outside the lock/);
    expect(() => checkExclusion("<1\n=1\n")).toThrow(/never left/);
  });

  const processes = sized(6, 8);
  const saves = sized(20, 150);
  it(
    `${processes} processes x ${saves} saves: no two ever inside the lock at once, every write made inside it`,
    async () => {
      const dir = tempDir();
      const path = join(dir, "t.enc");
      const trace = join(tempDir(), "trace");
      const key = generateKey();
      registerSecrets(key);
      const writers = Array.from({ length: processes }, (_, p) =>
        spawnWriter(path, `p${p}`, saves, { ZOHO_TOKEN_STORE_KEY: key, FAULT_TRACE: trace, FAULT_HOLD_MS: "3", FAULT_WAIT_MS: String(contendedLockWaitMs()) }),
      );
      const results = await Promise.all(writers.map((w) => w.output));
      for (const result of results) {
        expect(result.stderr).toBe("");
        expect(result.stdout.trim()).toBe("done ok");
      }
      const { entries, commits } = checkExclusion(readFileSync(trace, "utf8"));
      // Each save of a process waits for the previous one: one lock, one write per save.
      expect(commits).toBe(processes * saves);
      expect(entries).toBe(processes * saves);
      const names = await userNames(path, key);
      expect(names).toHaveLength(processes * saves);
      expect((await (await EncryptedFileStore.open({ path, key })).verify()).generation).toBe(processes * saves);
      expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
      console.log(`[fault figures] exclusion ${JSON.stringify({ processes, saves, lockEntries: entries, commits, overlaps: 0 })}`);
    },
    STRESS ? 600_000 : 120_000,
  );
});

/**
 * One holder P stalls at `point` while holding the lock; another writer Q takes the
 * lock over once it is stale and writes; then P goes on. P must not crash, Q's write
 * must survive, and P's write either lands on top of Q's (it read Q's) or is refused.
 */
async function stalledHolder(point: "locked" | "read" | "link" | "fsync", how: "stop" | "spin"): Promise<string> {
  const dir = tempDir();
  const path = join(dir, "t.enc");
  const key = generateKey();
  registerSecrets(key);
  const first = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000 });
  await first.saveToken({ userName: "base", refreshToken: "1000.base" });
  // A busy P spins until Q has written (not for a fixed time that a loaded machine may outlast).
  const qWrote = join(tempDir(), "q-wrote");
  const p = spawnWriter(path, "P", 1, {
    ZOHO_TOKEN_STORE_KEY: key,
    FAULT_STALE_MS: "2000",
    FAULT_STALL: point,
    FAULT_STALL_HOW: how === "stop" ? "stop" : `spin-until:${qWrote}`,
  });
  await Promise.race([p.stalled, p.output.then((r) => Promise.reject(new Error(`P ended before stalling: ${r.stdout} ${r.stderr}`)))]);
  // P refreshes its lock no more once it has stalled: the lock is stale 2 s after this mtime.
  const lockMtime = statSync(`${path}.lock`).mtimeMs;
  const q = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000, lockWaitMs: contendedLockWaitMs() });
  const started = Date.now();
  try {
    await q.saveToken({ userName: "Q", refreshToken: "1000.q" });
  } finally {
    writeFileSync(qWrote, "");
  }
  const waited = Date.now() - started;
  const generationOfQ = (await q.verify()).generation;
  if (how === "stop") {
    await stoppedNow(p.child);
    p.child.kill("SIGCONT");
  }
  const result = await p.output;
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const done = result.stdout.trim().split("\n").pop()!;
  const names = await userNames(path, key);
  const fresh = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000 });
  if (done === "done ok") {
    // P read Q's generation after it resumed: both writes are there, in order.
    expect(names).toEqual(["base", "Q", "P-1"]);
    expect((await fresh.verify()).generation).toBe(generationOfQ + 1);
  } else {
    expect(done).toBe("done error LOCK_COMPROMISED");
    expect(names).toEqual(["base", "Q"]);
    expect((await fresh.verify()).generation).toBe(generationOfQ);
  }
  // No lock or temp file stays behind once another write has run.
  await fresh.saveToken({ userName: "after", refreshToken: "1000.after" });
  expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  // Q got in only once P's lock was stale (1 ms for the rounding of file times).
  expect(started + waited).toBeGreaterThanOrEqual(lockMtime + 2000 - 1);
  return `${point}/${how}: Q waited ${waited} ms, P ${done.replace("done ", "")}`;
}

describe("stale and stolen locks", () => {
  it("a holder stopped (SIGSTOP) or busy past the stale time at any step of a write: it does not crash and never overwrites the newer write", async () => {
    const cases = [
      ["locked", "stop"],
      ["read", "stop"],
      ["link", "stop"],
      ["fsync", "stop"],
      ["read", "spin"],
      ["link", "spin"],
      ["fsync", "spin"],
    ] as const;
    const outcomes = await Promise.all(cases.map(([point, how]) => stalledHolder(point, how)));
    console.log(`[fault figures] stalled holders ${JSON.stringify(outcomes)}`);
  }, 60_000);

  it("a lock directory and temp files left by a dead process at start-up: a new process takes over once the lock is stale and cleans up", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
    // A holder that dies inside the lock (SIGKILL runs no exit handler).
    const holder = spawn(process.execPath, [fixture("hold-lock.mjs"), path, "2000"], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => holder.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("locked") && resolve()));
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.on("close", resolve));
    writeFileSync(`${path}.4242-0123456789ab.tmp`, "half a temp file", { mode: 0o600 });
    writeFileSync(`${path}.prev.new`, "", { mode: 0o600 });
    expect(existsSync(`${path}.lock`)).toBe(true);
    const result = await runNode(fixture("fault-writer.mjs"), [path, "n", "3"], { ZOHO_TOKEN_STORE_KEY: key, FAULT_STALE_MS: "2000" });
    expect(result.stderr).toBe("");
    // Taken over once stale (2 s, plus the ~1 s proper-lockfile sets the first mtime
    // ahead): within the writer's lock wait of lockStaleMs + 5 s, or it would have
    // failed with LOCK_TIMEOUT. (Timed from here, the writer's start-up would count.)
    expect(result.stdout.trim()).toBe("done ok");
    expect(await userNames(path, key)).toEqual(["base", "n-1", "n-2", "n-3"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  }, 30_000);

  it("a process that exits (process.exit) while holding the lock leaves no lock behind: the next writer does not wait for the stale time", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
    for (const point of ["read", "fsync"]) {
      const result = await runNode(fixture("fault-writer.mjs"), [path, "x", "1"], { ZOHO_TOKEN_STORE_KEY: key, FAULT_STALL: point, FAULT_STALL_HOW: "exit" });
      expect(result.stdout.trim()).toBe("stalled");
      expect(existsSync(`${path}.lock`), `lock directory after an exit at ${point}`).toBe(false);
    }
    // No wait at all: a lock directory left behind would make this LOCK_TIMEOUT.
    await (await EncryptedFileStore.open({ path, key, lockWaitMs: 0 })).saveToken({ userName: "next", refreshToken: "1000.next" });
    expect(await userNames(path, key)).toEqual(["base", "next"]);
  }, 30_000);

  const rounds = sized(1, 5);
  const racers = sized(6, 10);
  it(
    `a stale lock that ${rounds > 1 ? `${rounds} times ` : ""}${racers} processes race to take over at once: still one holder at a time, no acknowledged save lost`,
    async () => {
      for (let round = 0; round < rounds; round++) {
        const dir = tempDir();
        const path = join(dir, "t.enc");
        const trace = join(tempDir(), "trace");
        const key = generateKey();
        await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
        mkdirSync(`${path}.lock`);
        const old = new Date(Date.now() - 60_000);
        utimesSync(`${path}.lock`, old, old);
        const writers = Array.from({ length: racers }, (_, p) =>
          spawnWriter(path, `p${p}`, 3, {
            ZOHO_TOKEN_STORE_KEY: key,
            FAULT_TRACE: trace,
            FAULT_STALE_MS: "2000",
            FAULT_WAIT_MS: String(contendedLockWaitMs()),
          }),
        );
        const results = await Promise.all(writers.map((w) => w.output));
        for (const result of results) {
          expect(result.stderr).toBe("");
          expect(result.stdout.trim()).toBe("done ok");
        }
        expect(checkExclusion(readFileSync(trace, "utf8")).commits).toBe(racers * 3);
        const names = await userNames(path, key);
        expect(names).toHaveLength(racers * 3 + 1);
        expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
      }
    },
    STRESS ? 300_000 : 60_000,
  );

  it("a lock directory dated in the future: LOCK_TIMEOUT says so while it is watched, and a writer takes it over once it stayed unchanged for lockStaleMs", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000, lockWaitMs: 500 });
    await store.saveToken({ userName: "base", refreshToken: "1000.base" });
    const before = bytesOf(path);
    mkdirSync(`${path}.lock`);
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(`${path}.lock`, future, future);
    // A wait shorter than the stale time: LOCK_TIMEOUT, naming the lock and what is wrong with it.
    const error = await failure(store.saveToken({ userName: "x", refreshToken: "1000.x" }));
    expect(error.code).toBe("LOCK_TIMEOUT");
    expect(error.message).toContain(`${path}.lock`);
    expect(error.message).toMatch(/in the future/);
    expectBytes(path, before);
    expect(await store.findToken({ userName: "base" })).not.toBeNull();
    // The default wait (lockStaleMs + 5 s): the writer watches the lock stay unchanged
    // for lockStaleMs, then takes it over.
    const patient = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000 });
    const started = Date.now();
    await patient.saveToken({ userName: "y", refreshToken: "1000.y" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1990);
    expect(await userNames(path, key)).toEqual(["base", "y"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  }, 30_000);
});

describe("a stale lock taken over under scheduling delays", () => {
  const rounds = sized(3, 15);
  const racers = 6;
  const saves = 3;
  it(
    `${rounds} rounds of ${racers} processes x ${saves} saves racing for one stale lock, with a random delay around every file-system call: one holder at a time, every acknowledged save kept, no save fails`,
    async () => {
      for (let round = 0; round < rounds; round++) {
        const dir = tempDir();
        const logs = tempDir();
        const path = join(dir, "t.enc");
        const trace = join(logs, "trace");
        const key = generateKey();
        registerSecrets(key);
        await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
        mkdirSync(`${path}.lock`);
        const old = new Date(Date.now() - 60_000);
        utimesSync(`${path}.lock`, old, old);
        // All start their first save at the same moment (a writer that starts later still runs).
        const startAt = String(Date.now() + 1500);
        const writers = Array.from({ length: racers }, (_, p) =>
          spawnWriter(path, `p${p}`, saves, {
            ZOHO_TOKEN_STORE_KEY: key,
            FAULT_TRACE: trace,
            FAULT_ACK: join(logs, `ack-p${p}`),
            FAULT_STALE_MS: "2000",
            FAULT_WAIT_MS: String(contendedLockWaitMs()),
            FAULT_DELAY_MS: "4",
            FAULT_START_AT: startAt,
          }),
        );
        const results = await Promise.all(writers.map((w) => w.output));
        // What each writer was told was saved must be in the store, whatever else happened.
        const names = new Set(await userNames(path, key));
        const acknowledged = results.flatMap((_, p) => {
          const acks = existsSync(join(logs, `ack-p${p}`)) ? readFileSync(join(logs, `ack-p${p}`), "utf8") : "";
          return acks
            .split("\n")
            .filter(Boolean)
            .map((line) => `p${p}-${line.split(" ")[1]}`);
        });
        expect(
          acknowledged.filter((name) => !names.has(name)),
          `round ${round}: acknowledged saves missing from the store`,
        ).toEqual([]);
        expect(
          results.map((r) => `${r.stdout.trim()}${r.stderr}`),
          `round ${round}`,
        ).toEqual(Array(racers).fill("done ok"));
        expect(acknowledged).toHaveLength(racers * saves);
        expect(checkExclusion(readFileSync(trace, "utf8")).commits).toBe(racers * saves);
        expect(names.size).toBe(racers * saves + 1);
        expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
      }
      console.log(`[fault figures] delayed stale-lock race ${JSON.stringify({ rounds, racers, saves, lost: 0, failed: 0 })}`);
    },
    STRESS ? 600_000 : 120_000,
  );
});

describe("lock timeouts", () => {
  it("with a wait of 0 or 1 ms on a lock another process holds, every save fails with LOCK_TIMEOUT, never another code", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
    const before = bytesOf(path);
    const holder = spawn(process.execPath, [fixture("hold-lock.mjs"), path, "60000"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => holder.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("locked") && resolve()));
      const codes: Record<string, number> = {};
      for (const lockWaitMs of [0, 1]) {
        const store = await EncryptedFileStore.open({ path, key, lockWaitMs });
        for (let i = 0; i < sized(300, 1500); i++) {
          const code = `${lockWaitMs} ms: ${await outcome(store.saveToken({ userName: `u${i}`, refreshToken: `1000.u${i}` }))}`;
          codes[code] = (codes[code] ?? 0) + 1;
        }
      }
      expect(codes).toEqual({ "0 ms: LOCK_TIMEOUT": sized(300, 1500), "1 ms: LOCK_TIMEOUT": sized(300, 1500) });
      expectBytes(path, before);
    } finally {
      holder.kill("SIGKILL");
    }
  }, 60_000);
});

describe("the lock directory is private", () => {
  it("a writer under umask 000 makes it mode 0700; a file put inside it while held is moved aside with it on release, and later writes go on", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    registerSecrets(key);
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
    // Stopped while holding the lock, after it has read the store file.
    const p = spawnWriter(path, "P", 1, { ZOHO_TOKEN_STORE_KEY: key, FAULT_UMASK: "000", FAULT_STALL: "read", FAULT_STALL_HOW: "stop" });
    await Promise.race([p.stalled, p.output.then((r) => Promise.reject(new Error(`P ended before stalling: ${r.stdout} ${r.stderr}`)))]);
    await stoppedNow(p.child);
    expect((statSync(`${path}.lock`).mode & 0o7777).toString(8)).toBe("700");
    // Someone puts files inside the held lock.
    writeFileSync(`${path}.lock/junk`, "not the store's");
    mkdirSync(`${path}.lock/nested`);
    writeFileSync(`${path}.lock/nested/more`, "junk");
    p.child.kill("SIGCONT");
    const result = await p.output;
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("stalled\ndone ok");
    // Released whole: no lock stays behind to be waited for or taken over.
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
    const next = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000 });
    await next.saveToken({ userName: "next", refreshToken: "1000.next" });
    expect(await userNames(path, key)).toEqual(["base", "P-1", "next"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  }, 30_000);

  it("a stale lock with files inside it is taken over by the next write", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000 });
    await store.saveToken({ userName: "base", refreshToken: "1000.base" });
    mkdirSync(`${path}.lock`);
    writeFileSync(`${path}.lock/junk`, "not the store's");
    mkdirSync(`${path}.lock/nested`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    await store.saveToken({ userName: "x", refreshToken: "1000.x" });
    expect(await userNames(path, key)).toEqual(["base", "x"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  });
});

/**
 * P holds the lock and stops; Q takes it over once stale and stops inside it, before
 * writing; P goes on. Returns whether Q's lock directory got P's inode.
 */
async function takenOverHolder(): Promise<boolean> {
  const dir = tempDir();
  const path = join(dir, "t.enc");
  const key = generateKey();
  registerSecrets(key);
  await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "base", refreshToken: "1000.base" });
  let p: ReturnType<typeof spawnWriter> | undefined;
  let q: ReturnType<typeof spawnWriter> | undefined;
  try {
    // P stops while holding the lock, after reading; it would take a lock over only after 60 s.
    p = spawnWriter(path, "P", 1, { ZOHO_TOKEN_STORE_KEY: key, FAULT_STALE_MS: "60000", FAULT_STALL: "read", FAULT_STALL_HOW: "stop" });
    await Promise.race([p.stalled, p.output.then((r) => Promise.reject(new Error(`P ended before stalling: ${r.stdout} ${r.stderr}`)))]);
    const inodeOfP = statSync(`${path}.lock`).ino;
    // Q takes P's lock over once it is 2 s old, and stops inside it, before writing.
    q = spawnWriter(path, "Q", 1, { ZOHO_TOKEN_STORE_KEY: key, FAULT_STALE_MS: "2000", FAULT_STALL: "link", FAULT_STALL_HOW: "stop" });
    await Promise.race([q.stalled, q.output.then((r) => Promise.reject(new Error(`Q ended before stalling: ${r.stdout} ${r.stderr}`)))]);
    await Promise.all([stoppedNow(p.child), stoppedNow(q.child)]);
    const inodeOfQ = statSync(`${path}.lock`).ino;
    const before = bytesOf(path);
    // P goes on while Q is inside: it must find out that it lost the lock and wait.
    p.child.kill("SIGCONT");
    const early = await Promise.race([p.output.then((r) => r.stdout.trim()), sleep(3000).then(() => "still waiting")]);
    const lockWhileQInside = existsSync(`${path}.lock`) ? statSync(`${path}.lock`).ino : undefined;
    const bytesWhileQInside = bytesOf(path);
    // Nor may a third writer get in while Q is inside (Q's lock is not stale to it).
    const third = await outcome(
      (async () =>
        (await EncryptedFileStore.open({ path, key, lockStaleMs: 60_000, lockWaitMs: 1000 })).saveToken({ userName: "R", refreshToken: "1000.r" }))(),
    );
    q.child.kill("SIGCONT");
    const [resultP, resultQ] = await Promise.all([p.output, q.output]);
    expect.soft(bytesWhileQInside !== null && before !== null && bytesWhileQInside.equals(before), "P wrote the store file while Q held the lock").toBe(true);
    expect.soft(lockWhileQInside, "Q's lock directory while Q is inside").toBe(inodeOfQ);
    expect.soft(early).toBe("still waiting");
    expect.soft(third, "a third writer while Q is inside").toBe("LOCK_TIMEOUT");
    expect(resultP.stdout.trim()).toBe("stalled\ndone ok");
    expect(resultQ.stdout.trim()).toBe("stalled\ndone ok");
    expect(await userNames(path, key)).toEqual(["base", "Q-1", "P-1"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
    return inodeOfP === inodeOfQ;
  } finally {
    // Never leave a stopped process behind when an expectation above failed early.
    for (const writer of [p, q]) if (writer && writer.child.exitCode === null && writer.child.signalCode === null) writer.child.kill("SIGKILL");
  }
}

describe("a holder whose lock was taken over", () => {
  it("does not write, nor remove the new holder's lock, while the new holder is inside, also when the new lock directory got the old one's inode", async () => {
    // The file system hands a freed inode to the next directory often, not always: the
    // case is tried until it happens (the holder must then still tell the two apart).
    let attempts = 0;
    let reused = false;
    while (!reused && attempts < 5) {
      attempts++;
      reused = await takenOverHolder();
    }
    console.log(`[fault figures] taken-over holder ${JSON.stringify({ attempts, inodeReused: reused })}`);
  }, 120_000);
});
