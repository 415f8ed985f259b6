import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KnownPeers } from '../../source/chat/knownpeers.js';
import { UsageError } from '../../source/net/core/errors.js';
import type { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { FP_ALICE, FP_BOB, peer } from '../ui/fixtures.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-known-'));
  path = join(dir, 'known-peers.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('KnownPeers', () => {
  it('remembers peers we named when they connect, forgets them on removal, across opens', async () => {
    const sock = new EventEmitter();
    const known = KnownPeers.open(path);
    const stop = known.follow(sock as unknown as MultiHolepunchSocket);
    sock.emit('peer', peer('bob', { address: '127.0.0.1:9001', fingerprint: FP_BOB }), 'connected');
    sock.emit(
      'peer',
      peer('a.b', { address: '127.0.0.1:9002', fingerprint: FP_ALICE }),
      'connected',
    );
    // A stranger who added us is not kept.
    sock.emit('peer', peer('eve', { pinned: false }), 'connected');
    expect(KnownPeers.open(path).entries()).toEqual([
      { nick: 'bob', address: '127.0.0.1:9001', fingerprint: FP_BOB },
      { nick: 'a.b', address: '127.0.0.1:9002', fingerprint: FP_ALICE },
    ]);
    expect(KnownPeers.open(path).fingerprint('a.b')).toBe(FP_ALICE);
    sock.emit('peer', peer('bob'), 'removed');
    stop();
    sock.emit('peer', peer('a.b'), 'removed');
    expect(
      KnownPeers.open(path)
        .entries()
        .map((e) => e.nick),
    ).toEqual(['a.b']);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ version: 1 });
  });

  it('creates no file until there is something to keep', async () => {
    const known = KnownPeers.open(path);
    expect(known.entries()).toEqual([]);
    await expect(readFile(path)).rejects.toThrow();
  });

  it('refuses a malformed store with one line naming it, and leaves it untouched', async () => {
    const bad = [
      '{"version":1,"peers":',
      '[]',
      '{"version":2,"peers":{}}',
      '{"version":1,"peers":{"bob":{}}}',
      '{"version":1,"peers":{"b b":{"address":"x:1"}}}',
    ];
    for (const content of bad) {
      await writeFile(path, content);
      let err: unknown;
      try {
        KnownPeers.open(path);
      } catch (e) {
        err = e;
      }
      expect(err, content).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).not.toContain('\n');
      expect(await readFile(path, 'utf8')).toBe(content);
    }
  });
});
