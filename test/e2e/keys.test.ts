import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatArgv, chatEnv, findTmux, type Pane, Tmux } from './tmux.js';

/**
 * Keys that reach the chat several per read, as tmux send-keys (and SSH, and
 * a held key) deliver them: each is applied in order, as readline would. One
 * instance in a small terminal, where the input line must still be shown.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = findTmux();
if (!bin) console.warn('test/e2e/keys.test.ts: skipped, tmux is not installed');

describe.skipIf(!bin)('batched keys in a real terminal', () => {
  let tmux: Tmux;
  let home: string;
  let pane: Pane;

  beforeAll(async () => {
    tmux = new Tmux(bin!);
    home = await mkdtemp(join(tmpdir(), 'srmudp-keys-'));
    pane = await tmux.start('keys', chatArgv(root, 'alice'), chatEnv(home, 'alice'), {
      columns: 60,
      rows: 15,
    });
    await pane.waitFor(/alice> /, 45_000);
  });
  afterAll(async () => {
    await tmux?.kill();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /** The input line once it reads `want` (the cursor's cell is a space; empty shows the placeholder). */
  const input = (want: string) =>
    pane.waitFor(new RegExp(want ? `^alice> ${want}\\s*$` : '^alice> {2}type a message', 'm'));

  it('applies Backspace sent with text: "tyop" BSpace BSpace "po" is typo', async () => {
    await pane.keys('tyop', 'BSpace', 'BSpace', 'po');
    await input('typo');
    await pane.keys('C-u');
    await input('');
  });

  it('edits by word: M-BSpace, C-Left, M-d, Delete, C-w', async () => {
    await pane.keys('one two three', 'M-BSpace');
    await input('one two');
    await pane.keys('four', 'C-Left', 'C-Left', 'M-d');
    await input('one  four');
    await pane.keys('Home', 'DC', 'End', 'C-w');
    await input('ne');
    await pane.keys('C-u');
    await input('');
  });

  it('shows at least three message rows at 60×15', async () => {
    const rows = (await pane.capture()).split('\n');
    const top = rows.findIndex((r) => r.startsWith('╭'));
    const bottom = rows.findIndex((r, i) => i > top && r.startsWith('╰'));
    expect(bottom - top - 1).toBeGreaterThanOrEqual(3);
  });
});
