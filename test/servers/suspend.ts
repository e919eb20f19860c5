/**
 * Stops a test server's processes (SIGSTOP) and lets them go on (SIGCONT): a server that
 * hangs without going away. Its sockets stay open and the kernel still accepts new TCP
 * connections on its port, but nothing answers. Only processes a test file started (the
 * server and its children, found through /proc) are signalled.
 */
import { readdirSync, readFileSync } from "node:fs";

/** `pid` and every process below it (PostgreSQL runs one per connection), parents first. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const walk = (id: number) => {
    tree.push(id);
    for (const child of children.get(id) ?? []) walk(child);
  };
  walk(pid);
  return tree;
}

/** Stops `pid` and its descendants (the parent first, so that it starts no new child meanwhile). */
export function suspendTree(pid: number): void {
  // Children started between the listing and the signal are caught by a second pass.
  for (let pass = 0; pass < 2; pass++) for (const id of processTree(pid)) signal(id, "SIGSTOP");
}

/** Lets `pid` and its descendants go on. */
export function resumeTree(pid: number): void {
  for (const id of processTree(pid)) signal(id, "SIGCONT");
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone meanwhile.
  }
}
