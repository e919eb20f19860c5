/**
 * The built executable on a real pseudo-terminal, as a person at a keyboard runs it:
 * the hidden prompt, the three tries, Ctrl-C, and that a raw-key store asks for no
 * passphrase. The terminal comes from util-linux `script` (Debian's bsdutils, an
 * essential package), which runs the command on a new pseudo-terminal and passes what
 * is written to its stdin on as keystrokes; answers are typed only once their prompt
 * shows, when echo is already off, as a person would.
 */
import { describe, expect } from "vitest";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { assertNoSecrets, ROOT, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { itNeeds } from "./system-tools.js";

/** util-linux `script` makes the pseudo-terminal. */
const it = itNeeds("script", "bsdutils");

const CLI = join(ROOT, "dist", "cli.js");
const PASSPHRASE = "correct horse battery staple";

interface Session {
  code: number | null;
  /** Everything the terminal showed: stdout and stderr, as the pty merged them. */
  screen: string;
  /** How many answers were typed. */
  typed: number;
}

const shellWord = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;

/** The shell command that runs `zoho-encrypted-filestore ...args` from dist/. */
const tool = (args: string[]) => [process.execPath, CLI, ...args].map(shellWord).join(" ");

/**
 * Runs `zoho-encrypted-filestore ...args` (or a shell command line) on a new
 * pseudo-terminal and types `answers[i]` (then Enter, unless it is a control
 * character) at the i-th prompt ("Passphrase: " or "Repeat passphrase: ").
 */
function onTerminal(args: string[] | string, answers: string[], env: Record<string, string> = {}): Promise<Session> {
  const command = typeof args === "string" ? args : tool(args);
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SHELL: "/bin/sh", TERM: "xterm", NO_COLOR: "1", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let screen = "";
    let typed = 0;
    const prompts = () => screen.match(/assphrase( \(new\))?: /g)?.length ?? 0;
    child.stdout.on("data", (chunk: Buffer) => {
      screen += chunk.toString("utf8");
      while (typed < prompts() && typed < answers.length) {
        const answer = answers[typed]!;
        child.stdin.write(/^[\u0000-\u001f]$/.test(answer) ? answer : `${answer}\r`);
        typed += 1;
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (screen += chunk.toString("utf8")));
    // A safety net for a prompt that never comes, not a measure of speed.
    const timer = setTimeout(() => child.kill("SIGKILL"), 50_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, screen, typed });
    });
  });
}

async function passphraseStore() {
  const file = join(tempDir(), "tokens.enc");
  const store = await EncryptedFileStore.open({ path: file, passphrase: PASSPHRASE, scryptCost: 14 });
  await store.saveToken(sampleToken("t"));
  return { file, secrets: [PASSPHRASE, ...secretsOf(sampleToken("t"))] };
}

describe("on a real terminal", () => {
  it("a wrong passphrase may be typed again, three tries in all, and nothing typed shows", async () => {
    const { file, secrets } = await passphraseStore();
    const wrong = ["first-WRONG-typed", "second-WRONG-typed"];
    const session = await onTerminal(["list", "--file", file], [...wrong, PASSPHRASE]);
    expect(session.code, session.screen).toBe(0);
    expect(session.typed).toBe(3);
    expect(session.screen.match(/Passphrase: /g)).toHaveLength(3);
    expect(session.screen).toContain("wrong passphrase; try again (attempt 2 of 3)");
    expect(session.screen).toContain("wrong passphrase; try again (attempt 3 of 3)");
    expect(session.screen).toContain("key: passphrase (prompt)");
    expect(session.screen).toMatch(/^1\s+user-t@example\.com/m);
    assertNoSecrets(session.screen, [...secrets, ...wrong]);

    const three = await onTerminal(["verify", "--file", file], ["w-1-typed", "w-2-typed", "w-3-typed", PASSPHRASE]);
    expect(three.code, three.screen).toBe(1);
    expect(three.typed).toBe(3);
    expect(three.screen).toContain("error WRONG_KEY");
    assertNoSecrets(three.screen, [...secrets, "w-1-typed", "w-2-typed", "w-3-typed"]);
  });

  it("Ctrl-C at the prompt exits 130, and the terminal gets its echo back", async () => {
    const { file, secrets } = await passphraseStore();
    // After the tool exits, the shell asks the terminal whether echo is on again.
    const probe = `${tool(["list", "--file", file])}; code=$?; stty -a | grep -o -- '-\\?echo ' | head -1; exit $code`;
    const session = await onTerminal(probe, ["\u0003"]);
    expect(session.code, session.screen).toBe(130);
    expect(session.screen).toContain("error CANCELLED: interrupted at the passphrase prompt; nothing was done");
    expect(session.screen).toMatch(/^echo \r?$/m); // "echo", not "-echo"
    assertNoSecrets(session.screen, secrets);
  });

  it("a raw-key store asks for no passphrase: NO_KEY names the ways to give the key; --key-file - refuses the terminal", async () => {
    const file = join(tempDir(), "tokens.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path: file, key });
    await store.saveToken(sampleToken("r"));
    const secrets = [key, ...secretsOf(sampleToken("r"))];
    const session = await onTerminal(["list", "--file", file], ["typed-by-mistake"]);
    expect(session.code, session.screen).toBe(2);
    expect(session.typed).toBe(0);
    expect(session.screen).not.toContain("Passphrase");
    expect(session.screen).toContain(
      "is sealed with a raw key, and no key was given: pass --key-file K or --key-file - (the key on standard input), or set ZOHO_TOKEN_STORE_KEY_FILE or ZOHO_TOKEN_STORE_KEY",
    );
    const fromStdin = await onTerminal(["list", "--file", file, "--key-file", "-"], []);
    expect(fromStdin.code, fromStdin.screen).toBe(2);
    expect(fromStdin.screen).toContain("error USAGE: --key-file - reads the key from standard input, which is a terminal here");
    assertNoSecrets(session.screen + fromStdin.screen, secrets);
  });

  it("init asks for a new passphrase twice, and the store opens with it", async () => {
    const file = join(tempDir(), "new.enc");
    const session = await onTerminal(["init", "--file", file], [PASSPHRASE, PASSPHRASE]);
    expect(session.code, session.screen).toBe(0);
    expect(session.screen).toContain("Passphrase: ");
    expect(session.screen).toContain("Repeat passphrase: ");
    expect(session.screen).toContain("created an empty store");
    assertNoSecrets(session.screen, [PASSPHRASE]);
    const store = await EncryptedFileStore.open({ path: file, passphrase: PASSPHRASE });
    expect((await store.verify()).keySource).toBe("passphrase");
  });
});
