import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * The readme's line-mode example, run as written: its command lines are read
 * from readme.md (so the test fails when the readme drifts) and run by sh,
 * with `srmudp-tui` standing for this checkout's cli.tsx. Loopback only
 * (the example uses 127.0.0.1; vitest.config sets SRMUDP_STUN=none).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The command lines of the readme's fenced block that pipes a script into the chat. */
async function readmeExample(): Promise<string[]> {
  const readme = await readFile(join(root, 'readme.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/gu)].map((m) => m[1]!);
  const block = blocks.find((b) => /\| srmudp-tui /u.test(b));
  if (!block) throw new Error('readme.md has no ```sh block piping into srmudp-tui');
  return block.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}

let home: string;
const children: ChildProcessWithoutNullStreams[] = [];
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'srmudp-readme-'));
  // `srmudp-tui` on the PATH: this checkout's CLI, as the installed bin would be.
  await mkdir(join(home, 'bin'));
  const bin = join(home, 'bin', 'srmudp-tui');
  await writeFile(bin, `#!/bin/sh\nexec "$NODE" --import tsx "$CLI" "$@"\n`);
  await chmod(bin, 0o755);
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(home, { recursive: true, force: true });
});

/** One readme line under sh, `srmudp-tui` being this checkout's CLI. */
function shell(line: string) {
  const proc = spawn('sh', ['-c', line], {
    cwd: root,
    env: {
      ...process.env,
      PATH: `${join(home, 'bin')}:${process.env.PATH ?? ''}`,
      NODE: process.execPath,
      CLI: join(root, 'cli.tsx'),
      // One user's configuration for both, as on one machine: each command
      // line must choose its own profile (with the default one both chats
      // had the same key and bob refused alice as himself).
      SRMUDP_HOME: '',
      XDG_CONFIG_HOME: join(home, 'config'),
    },
    stdio: 'pipe',
  });
  children.push(proc);
  let out = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    out += d;
  });
  proc.stderr.on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const waitFor = async (pattern: RegExp, ms = 30_000) => {
    for (let waited = 0; !pattern.test(out); waited += 20) {
      if (waited > ms || proc.exitCode !== null)
        throw new Error(`timed out waiting for ${pattern}; output:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { proc, output: () => out, exited, waitFor };
}

describe('the readme', () => {
  it('line-mode example: bob waits for alice, his hello arrives, and he exits 0', async () => {
    const [aliceLine, bobLine, ...rest] = await readmeExample();
    expect(rest).toEqual([]);
    expect(aliceLine).toMatch(/^srmudp-tui .*127\.0\.0\.1/u);
    // Alice's stdin stays open (a pipe: line mode), as a terminal would.
    const alice = shell(aliceLine!);
    await alice.waitFor(/type \/help/u);
    const bob = shell(bobLine!);
    expect(await bob.exited).toBe(0);
    expect(bob.output()).toMatch(/<bob> hello/u);
    expect(bob.output()).not.toMatch(/!!/u);
    await alice.waitFor(/<bob> hello/u);
    alice.proc.stdin.end('/quit\n');
    expect(await alice.exited).toBe(0);
  });
});
