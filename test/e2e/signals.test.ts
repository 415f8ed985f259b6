import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeChat } from '../../source/chat/protocol.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { MultiHolepunchSocket, type PeerInfo } from '../../source/net/shell/socket.js';
import { chatArgv, chatEnv, findTmux, type Pane, Tmux } from './tmux.js';

/**
 * The full-screen chat (bob, in tmux) against a library socket (alice, in
 * this process), both on 127.0.0.1: a hung file command must not swallow the
 * next message, and SIGHUP must end the chat as SIGTERM does.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = findTmux();
if (!bin)
  console.warn('test/e2e/signals.test.ts: skipped, tmux is not installed (apt-get install tmux)');
const run = promisify(execFile);

async function until<T>(check: () => T | undefined, what: string, ms = 15_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const got = check();
    if (got !== undefined) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

describe.skipIf(!bin || process.platform !== 'linux')('the full-screen chat in tmux', () => {
  let tmux: Tmux;
  let home: string;
  let alice: MultiHolepunchSocket;
  const heard: string[] = [];
  const changes: { nick: string; change: string; state: PeerInfo['state'] }[] = [];
  let bob: Pane;

  beforeAll(async () => {
    tmux = new Tmux(bin!);
    home = await mkdtemp(join(tmpdir(), 'srmudp-e2e-signals-'));
    alice = await MultiHolepunchSocket.bind({
      host: '127.0.0.1',
      port: 0,
      nick: 'alice',
      identity: generateIdentity(),
    });
    alice.on('message', (m) => heard.push(decodeChat(m.content).text));
    alice.on('peer', (p, change) => changes.push({ nick: p.nick, change, state: p.state }));
    bob = await tmux.start('bob', chatArgv(root, 'bob'), chatEnv(home, 'bob'));
    await bob.waitFor(/type \/help/, 45_000);
    await bob.line(`/add alice 127.0.0.1:${alice.localAddress().port}`);
    await bob.waitFor(/alice connected/, 15_000);
  });
  afterAll(async () => {
    await alice?.close();
    await tmux?.kill();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('a /save that cannot be written fails at once, and the next message still goes out', async () => {
    await bob.line('/save /proc/nope/x.json');
    await bob.line('after the failed save');
    await bob.waitFor(/\/proc\/nope is not a directory/);
    await until(() => (heard.includes('after the failed save') ? true : undefined), 'the message');
  });

  it('SIGHUP restores the screen and sends CLOSE, as SIGTERM does', async () => {
    expect(await bob.format('#{alternate_on}')).toBe('1');
    const shell = await bob.format('#{pane_pid}');
    const node = (await run('pgrep', ['-P', shell])).stdout.trim().split('\n')[0]!;
    process.kill(Number(node), 'SIGHUP');
    expect(await bob.exited(15_000)).toBe(0);
    expect(await bob.format('#{alternate_on}')).toBe('0');
    // A CLOSE, not silence: alice hears of it at once, not after the idle timeout.
    const gone = await until(
      () => changes.find((c) => c.nick === 'bob' && c.change === 'disconnected'),
      'bob disconnected at alice',
      5000,
    );
    expect(gone.state).toMatchObject({ kind: 'disconnected', reason: 'closed by peer' });
  });
});
