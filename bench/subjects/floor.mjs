// The floor for one durable replacement of the same bytes: what any durable store must
// at least do, with no library and no checks.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";

/**
 * Returns one durable replacement of `size` random bytes in `dir`: take an mkdir lock,
 * write a temp file (open, write, fsync, close), rename it over the target, fsync the
 * directory, release the lock.
 */
export function makeFloor(dir, size) {
  const target = join(dir, "floor.bin");
  const temp = join(dir, "floor.bin.tmp");
  const lock = join(dir, "floor.bin.lock");
  const bytes = randomBytes(size);
  return () => {
    fs.mkdirSync(lock);
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
    fs.writeSync(fd, bytes, 0, bytes.length, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(temp, target);
    const dfd = fs.openSync(dir, fs.constants.O_RDONLY);
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    fs.rmdirSync(lock);
  };
}
