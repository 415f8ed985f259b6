import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Message, MultiHolepunchSocket } from '../../source/net/shell/socket.js';

const fixture = join(import.meta.dirname, 'fixtures', 'peer-process.ts');
const children: ChildProcess[] = [];
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Starts the peer process and resolves with its port once it is listening. */
function startPeer(
  args: string[],
): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const m = /^ready (\d+)$/.exec(line);
        if (m) resolve({ child, port: Number(m[1]), lines });
        i = buf.indexOf('\n');
      }
    });
    child.once('exit', (code) => reject(new Error(`peer process exited with ${code}`)));
  });
}

describe('a peer process killed and restarted on the same port', () => {
  it('is talking again without the user doing anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'srmudp-restart-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
    cleanup.push(() => alice.close());
    const got: Message[] = [];
    alice.addHook((m) => got.push(m));
    const identity = join(dir, 'bob.key');
    const first = await startPeer(['0', identity, 'bob']);
    await alice.addPeers({ bob: `127.0.0.1:${first.port}` });
    await alice.waitForPeer('bob', { timeout: 10_000 });
    await alice.send('one', { recipient: 'bob', timeout: 10_000 });
    await expect.poll(() => got.map((m) => m.content.toString())).toEqual(['echo one']);

    // kill -9: no CLOSE, no goodbye; then the same program starts again on
    // the same port with the same identity and no memory of alice.
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const t0 = Date.now();
    const second = await startPeer([String(first.port), identity, 'bob']);
    expect(second.port).toBe(first.port);
    await alice.send('two', { recipient: 'bob', timeout: 20_000 });
    await expect
      .poll(() => got.map((m) => m.content.toString()), { timeout: 10_000 })
      .toEqual(['echo one', 'echo two']);
    console.log(
      `real process restart: talking again ${Date.now() - t0} ms after the new process was started`,
    );
    expect(alice.peers().map((p) => [p.nick, p.state.kind])).toEqual([['bob', 'connected']]);
  }, 60_000);
});
