import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatArgv, chatEnv, findTmux, type Pane, Tmux } from './tmux.js';

/**
 * The real full-screen chat in real terminals (tmux), three instances on
 * 127.0.0.1 with separate data directories.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = findTmux();
if (!bin)
  console.warn('test/e2e/tui.test.ts: skipped, tmux is not installed (apt-get install tmux)');

describe.skipIf(!bin)('full-screen chat in a real terminal', () => {
  let tmux: Tmux;
  let home: string;

  beforeAll(async () => {
    tmux = new Tmux(bin!);
    home = await mkdtemp(join(tmpdir(), 'srmudp-e2e-'));
  });
  afterAll(async () => {
    await tmux?.kill();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const start = (nick: string, env: Record<string, string> = {}, session = nick) =>
    tmux.start(session, chatArgv(root, nick), { ...chatEnv(home, nick), ...env });

  it('alice, bob and carol chat; /msg reaches only its recipient; /save and /load; /quit restores', async () => {
    const [alice, bob, carol] = await Promise.all([
      start('alice'),
      start('bob'),
      start('carol', { NO_COLOR: '1' }),
    ]);
    const port = (await alice.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 45_000))[1]!;
    await bob.waitFor(/type \/help/, 45_000);
    await carol.waitFor(/type \/help/, 45_000);
    expect(await alice.format('#{alternate_on}')).toBe('1');

    // Bob adds Alice: both see each other in Peers with an RTT.
    await bob.line(`/add alice 127.0.0.1:${port}`);
    const rttRow = (nick: string) =>
      new RegExp(`│${nick}\\s+127\\.0\\.0\\.1:\\d+\\s+[a-z2-7]{8}\\s+\\d+(\\.\\d)?\\s+\\d`);
    await bob.waitFor(rttRow('alice'));
    await alice.waitFor(rttRow('bob'));
    await bob.waitFor(/connected since \d\d:\d\d/);

    // /save writes a file that /load reads: carol loads Bob's list and reaches Alice.
    const file = join(home, 'bob-peers.json');
    await bob.line(`/save ${file}`);
    await bob.waitFor(/saved 1 peer to/);
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(saved).toMatchObject({ type: 'srmudp-peers', version: 1, peers: [{ nick: 'alice' }] });
    await carol.line(`/load ${file}`);
    await carol.waitFor(/loaded 1 peer from/);
    await carol.waitFor(rttRow('alice'));
    await alice.waitFor(rttRow('carol'));

    // A broadcast reaches everyone connected; a /msg only its recipient.
    await alice.line('hello everyone');
    await bob.waitFor(/ <alice> hello everyone/);
    await carol.waitFor(/ <alice> hello everyone/);
    await alice.waitFor(/»<alice> hello everyone ✓/);
    await alice.line('/msg bob a secret for bob');
    await bob.waitFor(/\[private\] <alice> a secret for bob/);
    await alice.waitFor(/»\[private → bob\] <alice> a secret for bob ✓/);
    await carol.line('/list');
    await carol.waitFor(/NICK\s+ADDRESS/);
    expect(await carol.capture()).not.toContain('secret');
    expect(await alice.capture()).not.toMatch(/ \[private\] <alice>/);

    // NO_COLOR: carol's screen has no colour at all; alice's has.
    expect(colours(await alice.capture(true))).toBeGreaterThan(0);
    expect(colours(await carol.capture(true))).toBe(0);

    // A resize redraws the panes to the new width.
    await tmux.tmux('resize-window', '-t', 'alice', '-x', '80', '-y', '24');
    await alice.waitFor(/^╰─{78}╯$/m);
    expect(await alice.capture()).toMatch(/│bob\s+127\.0\.0\.1/);
    for (const row of (await alice.capture()).split('\n'))
      expect(row.length).toBeLessThanOrEqual(80);

    // /quit exits 0 and leaves the alternate screen.
    const quit = async (p: Pane) => {
      await p.line('/quit');
      expect(await p.exited()).toBe(0);
      expect(await p.format('#{alternate_on}')).toBe('0');
    };
    await quit(bob);

    // Bob's known peers persist: started again, he reconnects to Alice by himself.
    const bob2 = await start('bob', {}, 'bob2');
    await bob2.waitFor(/reconnecting to 1 known peer: alice/, 45_000);
    await bob2.waitFor(rttRow('alice'));
    await quit(bob2);
    await quit(alice);
    // Ctrl+C quits the same way.
    await carol.keys('C-c');
    expect(await carol.exited()).toBe(0);
    expect(await carol.format('#{alternate_on}')).toBe('0');
  }, 120_000);

  it('a crash, inside React or out, restores the terminal and shows the error', async () => {
    const fixture = join(root, 'test', 'e2e', 'fixtures', 'crash.tsx');
    const modes = ['render', 'timer'] as const;
    const panes = await Promise.all(
      modes.map((mode) =>
        tmux.start(`crash-${mode}`, [process.execPath, '--import', 'tsx', fixture, mode], {
          TERM: 'xterm-256color',
        }),
      ),
    );
    for (const [i, pane] of panes.entries()) {
      // Read while the shell lingers: tmux replaces a dead pane's screen.
      const what = modes[i] === 'render' ? 'stats' : 'timer';
      await pane.waitFor(new RegExp(`internal error: crash test: ${what} exploded`), 10_000);
      expect(await pane.exited()).toBe(1);
      expect(await pane.format('#{alternate_on}')).toBe('0');
    }
  }, 60_000);
});

/** How many SGR colour parameters (foreground or background) a captured screen holds. */
function colours(screen: string): number {
  let n = 0;
  for (const m of screen.matchAll(new RegExp(`${String.fromCharCode(27)}\\[([0-9;]*)m`, 'g'))) {
    for (const p of (m[1] ?? '').split(';')) {
      const v = Number(p);
      if (
        (v >= 30 && v <= 38) ||
        (v >= 40 && v <= 48) ||
        (v >= 90 && v <= 97) ||
        (v >= 100 && v <= 107)
      )
        n++;
    }
  }
  return n;
}
