import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KnownPeers, startPeers } from '../../source/app/knownpeers.js';
import type { PeerEntry } from '../../source/app/peersfile.js';
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
    const sock = Object.assign(new EventEmitter(), {
      pinnedFingerprint: (nick: string) => ({ bob: FP_BOB, 'a.b': FP_ALICE })[nick],
    });
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

  it('says when a write fails (its directory gone and a file in its place) instead of staying silent', async () => {
    const sub = join(dir, 'profile');
    const known = KnownPeers.open(join(sub, 'known-peers.json'));
    const sock = Object.assign(new EventEmitter(), { pinnedFingerprint: () => FP_BOB });
    const failures: string[] = [];
    known.follow(sock as unknown as MultiHolepunchSocket, (err) => failures.push(err.message));
    await rm(sub, { recursive: true, force: true });
    await writeFile(sub, 'not a directory');
    sock.emit('peer', peer('bob', { fingerprint: FP_BOB }), 'connected');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/known peers/);
    // Said once, not on every later change.
    sock.emit('peer', peer('bob', { fingerprint: FP_BOB, address: '127.0.0.1:9009' }), 'connected');
    expect(failures).toHaveLength(1);
  });

  it('follows the transport: a restart with the pinned key is kept, any other key is not', async () => {
    const pins = new Map([['bob', FP_BOB]]);
    const sock = Object.assign(new EventEmitter(), {
      pinnedFingerprint: (nick: string) => pins.get(nick),
    });
    const known = KnownPeers.open(path);
    known.follow(sock as unknown as MultiHolepunchSocket);
    sock.emit('peer', peer('bob', { fingerprint: FP_BOB }), 'connected');
    // A key the transport has not pinned (never happens for a pinned name today) is not remembered.
    sock.emit('peer', peer('bob', { fingerprint: FP_ALICE }), 'restarted');
    expect(KnownPeers.open(path).fingerprint('bob')).toBe(FP_BOB);
    // /trust pinned a new key; the session with it is a 'restarted' one.
    pins.set('bob', FP_ALICE);
    sock.emit('peer', peer('bob', { fingerprint: FP_ALICE }), 'restarted');
    expect(KnownPeers.open(path).fingerprint('bob')).toBe(FP_ALICE);
  });

  it('keeps a stranger the user adds while it is connected (its session is renamed, not connected again)', async () => {
    const pins = new Map<string, string>();
    const sock = Object.assign(new EventEmitter(), {
      pinnedFingerprint: (nick: string) => pins.get(nick),
    });
    const known = KnownPeers.open(path);
    known.follow(sock as unknown as MultiHolepunchSocket);
    const bob = { address: '127.0.0.1:9001', fingerprint: FP_BOB };
    // Bob added us: a stranger, not kept.
    sock.emit('peer', peer('bob', { ...bob, pinned: false }), 'connected');
    // /add bob 127.0.0.1:9001: the transport moves the stranger aside, then
    // gives the live session the name, pinned (as seen from the library).
    sock.emit('peer', peer('bob-uutjrkec', { ...bob, pinned: false }), 'renamed');
    pins.set('bob', FP_BOB);
    sock.emit('peer', peer('bob', bob), 'renamed');
    expect(KnownPeers.open(path).entries()).toEqual([{ nick: 'bob', ...bob }]);
  });

  it('at start the trust store wins over a remembered key, and /trust replaces it', async () => {
    const known = KnownPeers.open(path);
    known.remember(peer('bob', { address: '127.0.0.1:9001', fingerprint: FP_BOB }));
    known.remember(peer('carol', { address: '127.0.0.1:9002', fingerprint: FP_BOB }));
    const transport = {
      pinnedFingerprint: (nick: string) => (nick === 'bob' ? FP_ALICE : undefined),
    };
    expect(known.entriesFollowing(transport)).toEqual([
      { nick: 'bob', address: '127.0.0.1:9001', fingerprint: FP_ALICE },
      { nick: 'carol', address: '127.0.0.1:9002', fingerprint: FP_BOB },
    ]);
    expect(KnownPeers.open(path).fingerprint('bob')).toBe(FP_ALICE);
    known.trusted('carol', FP_ALICE, undefined);
    expect(KnownPeers.open(path).entries()[1]).toEqual({
      nick: 'carol',
      address: '127.0.0.1:9002',
      fingerprint: FP_ALICE,
    });
  });

  it('at start a -c entry refused for naming another key leaves the known peer to reconnect', async () => {
    const known = KnownPeers.open(path);
    known.remember(peer('bob', { address: '127.0.0.1:9001', fingerprint: FP_BOB }));
    known.remember(peer('carol', { address: '127.0.0.1:9002', fingerprint: FP_ALICE }));
    const pins = new Map([
      ['bob', FP_BOB],
      ['carol', FP_ALICE],
    ]);
    const calls: PeerEntry[][] = [];
    // As the controller does: an entry naming another key than the pin is refused.
    const add = async (entries: readonly PeerEntry[]) => {
      calls.push([...entries]);
      return entries
        .filter((e) => !e.fingerprint || e.fingerprint === (pins.get(e.nick) ?? e.fingerprint))
        .map((e) => e.nick);
    };
    const file: PeerEntry[] = [
      { nick: 'bob', address: '127.0.0.1:9101', fingerprint: FP_ALICE },
      { nick: 'carol', address: '127.0.0.1:9102' },
    ];
    const r = await startPeers(known, { pinnedFingerprint: (n) => pins.get(n) }, file, add);
    expect(r).toEqual({ loaded: ['carol'], reconnecting: ['bob'] });
    // The file first (its address wins for carol), then bob from the store with the pinned key.
    expect(calls).toEqual([
      file,
      [{ nick: 'bob', address: '127.0.0.1:9001', fingerprint: FP_BOB }],
    ]);
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

describe('KnownPeers: peers added by key alone', () => {
  it('keeps a key-only peer before it is found, so a restart looks it up again', () => {
    const known = KnownPeers.open(path);
    known.byKey('bob', FP_BOB);
    expect(KnownPeers.open(path).entries()).toEqual([
      { nick: 'bob', fingerprint: FP_BOB, lookup: true },
    ]);
  });

  it('once found it gains an address, and stays a key lookup', () => {
    const sock = Object.assign(new EventEmitter(), { pinnedFingerprint: () => FP_BOB });
    const known = KnownPeers.open(path);
    known.follow(sock as unknown as MultiHolepunchSocket);
    known.byKey('bob', FP_BOB);
    sock.emit(
      'peer',
      peer('bob', { address: '198.51.100.7:9001', fingerprint: FP_BOB }),
      'connected',
    );
    expect(KnownPeers.open(path).entries()).toEqual([
      { nick: 'bob', address: '198.51.100.7:9001', fingerprint: FP_BOB, lookup: true },
    ]);
    // /add <nick> <address> later makes it an address peer again.
    known.byAddress('bob');
    sock.emit(
      'peer',
      peer('bob', { address: '198.51.100.7:9002', fingerprint: FP_BOB }),
      'connected',
    );
    expect(KnownPeers.open(path).entries()).toEqual([
      { nick: 'bob', address: '198.51.100.7:9002', fingerprint: FP_BOB },
    ]);
  });

  it('a removed key-only peer is forgotten', () => {
    const sock = Object.assign(new EventEmitter(), { pinnedFingerprint: () => undefined });
    const known = KnownPeers.open(path);
    known.follow(sock as unknown as MultiHolepunchSocket);
    known.byKey('bob', FP_BOB);
    known.forget('bob');
    expect(KnownPeers.open(path).entries()).toEqual([]);
  });

  it('refuses an entry with neither an address nor a key to look up', async () => {
    for (const peers of [{ bob: {} }, { bob: { fingerprint: FP_BOB } }, { bob: { lookup: 1 } }]) {
      await writeFile(path, JSON.stringify({ version: 1, peers }));
      expect(() => KnownPeers.open(path)).toThrow(/malformed known-peers store/);
    }
  });
});

describe('KnownPeers.restore (the data directory deleted while the chat runs)', () => {
  it('writes back every entry it held, and an entry written since the deletion wins', async () => {
    const sub = join(dir, 'profile');
    const file = join(sub, 'known-peers.json');
    const known = KnownPeers.open(file);
    known.remember(peer('bob', { address: '127.0.0.1:9001', fingerprint: FP_BOB }));
    known.byKey('carol', FP_ALICE);
    known.remember(peer('dave', { address: '127.0.0.1:9003', fingerprint: FP_BOB }));
    known.forget('dave');
    await rm(sub, { recursive: true, force: true });
    // conf reads the missing file as empty: bob moved meanwhile, and is written alone.
    known.remember(peer('bob', { address: '127.0.0.1:9009', fingerprint: FP_BOB }));
    expect(
      KnownPeers.open(file)
        .entries()
        .map((e) => e.nick),
    ).toEqual(['bob']);
    known.restore();
    expect(KnownPeers.open(file).entries()).toEqual([
      { nick: 'bob', address: '127.0.0.1:9009', fingerprint: FP_BOB },
      { nick: 'carol', fingerprint: FP_ALICE, lookup: true },
    ]);
  });
});
