import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import { Session } from '../../../../source/net/core/conn/session.js';
import type { EndpointEvent } from '../../../../source/net/core/events.js';
import { PeerRegistry } from '../../../../source/net/core/peers/registry.js';
import { createPacketKey, KEY_LENGTH } from '../../../../source/net/crypto/cipher.js';
import { fingerprint, shortFingerprint } from '../../../../source/net/crypto/identity.js';
import { RecordingPeerHost } from '../../../support/peerhost.js';

/**
 * The registry on its own: the one source of truth for names, keys and the
 * user's trust decisions (pins, blocks, removals). What it reports ('peer',
 * 'pinned', 'unpinned' events) is what the socket persists and the chat shows,
 * so the events are asserted exactly. The endpoint-level flows (add, remove,
 * block through the user's commands) are trust.test.ts's business.
 */

const HERE: Addr = { address: '203.0.113.5', port: 4000 };
const THERE: Addr = { address: '203.0.113.6', port: 4000 };
const key = (n: number): Buffer => Buffer.alloc(32, n);

function registry(pins: [string, Uint8Array][] = [], blocked: Uint8Array[] = []) {
  const host = new RecordingPeerHost();
  const events: EndpointEvent[] = [];
  const reg = new PeerRegistry(host, (e) => events.push(e), 16, pins, blocked);
  return { reg, events, host };
}

/** A live session, so that the peer counts as connected. */
function session(now: number): Session {
  return new Session({
    localIndex: 1,
    remoteIndex: 2,
    initiator: true,
    initiatorStatic: key(1),
    remoteStatic: key(2),
    sendKey: createPacketKey('chacha20-poly1305', randomBytes(KEY_LENGTH)),
    recvKey: createPacketKey('chacha20-poly1305', randomBytes(KEY_LENGTH)),
    path: THERE,
    now,
  });
}

describe('PeerRegistry: records by name and by key', () => {
  it('creates records under a name, reports them added, and finds them by name and key', () => {
    const { reg, events } = registry();
    const bob = reg.create('bob', true, [HERE], 0);
    const carol = reg.create('carol', false, [], 0);
    expect(events).toEqual([
      { type: 'peer', nick: 'bob', change: 'added' },
      { type: 'peer', nick: 'carol', change: 'added' },
    ]);
    expect(reg.get('bob')).toBe(bob);
    expect(reg.has('carol')).toBe(true);
    expect(reg.has('dave')).toBe(false);
    expect(reg.size).toBe(2);
    expect([...reg.values()]).toEqual([bob, carol]);
    expect([bob.pinned, carol.pinned]).toEqual([true, false]);
    expect(bob.id).not.toBe(carol.id);
    reg.setKey(bob, key(7));
    expect(reg.withKey(key(7))).toBe(bob);
    expect(reg.withKey(key(7).toString('hex'))).toBe(bob);
    expect(reg.withKey(key(8))).toBeUndefined();
  });

  it('a new key replaces the old one in the key index', () => {
    const { reg } = registry();
    const bob = reg.create('bob', true, [], 0);
    reg.setKey(bob, key(1));
    reg.setKey(bob, key(2));
    expect(reg.withKey(key(1))).toBeUndefined();
    expect(reg.withKey(key(2))).toBe(bob);
    expect(bob.key).toEqual(key(2));
  });

  it('setting a key another record already had does not unindex that key from the new holder', () => {
    const { reg } = registry();
    const a = reg.create('a', false, [], 0);
    const b = reg.create('b', false, [], 0);
    reg.setKey(a, key(1));
    reg.setKey(b, key(1)); // the key moved to b
    reg.setKey(a, key(2)); // a's old key is b's now: it stays indexed to b
    expect(reg.withKey(key(1))).toBe(b);
    reg.delete(a);
    expect(reg.withKey(key(1))).toBe(b);
    expect(reg.has('a')).toBe(false);
  });

  it('delete forgets the record by name and by key, but never another record under them', () => {
    const { reg } = registry();
    const bob = reg.create('bob', true, [], 0);
    reg.setKey(bob, key(3));
    reg.delete(bob);
    expect(reg.get('bob')).toBeUndefined();
    expect(reg.withKey(key(3))).toBeUndefined();
    expect(reg.size).toBe(0);
    // A stale record whose name and key were since taken by a new one.
    const old = reg.create('eve', false, [], 0);
    reg.setKey(old, key(4));
    const fresh = reg.create('eve', false, [], 1);
    reg.setKey(fresh, key(4));
    reg.delete(old);
    expect(reg.get('eve')).toBe(fresh);
    expect(reg.withKey(key(4))).toBe(fresh);
  });

  it('finds the keyless record the user added at an address, and only that one', () => {
    const { reg } = registry();
    const keyed = reg.create('keyed', true, [HERE], 0);
    reg.setKey(keyed, key(1));
    expect(reg.unkeyedAt(HERE)).toBeUndefined();
    const bob = reg.create('bob', true, [THERE, HERE], 0);
    expect(reg.unkeyedAt({ ...HERE })).toBe(bob);
    expect(reg.unkeyedAt({ address: HERE.address, port: 4001 })).toBeUndefined();
  });

  it('rename moves the record, reports the old name, and re-pins a pinned key under the new name', () => {
    const { reg, events } = registry();
    const bob = reg.create('bob', true, [], 0);
    reg.setKey(bob, key(5));
    events.length = 0;
    reg.rename(bob, 'bob'); // same name: nothing happens
    expect(events).toEqual([]);
    reg.rename(bob, 'robert');
    expect(reg.get('bob')).toBeUndefined();
    expect(reg.get('robert')).toBe(bob);
    expect(bob.nick).toBe('robert');
    expect(events).toEqual([
      { type: 'pinned', nick: 'robert', fingerprint: fingerprint(key(5)) },
      { type: 'peer', nick: 'robert', change: 'renamed', previousNick: 'bob' },
    ]);
    expect(reg.pinnedKey('robert')).toEqual(key(5));
  });

  it('renaming a stranger pins nothing', () => {
    const { reg, events } = registry();
    const s = reg.create('stranger', false, [], 0);
    reg.setKey(s, key(6));
    events.length = 0;
    reg.rename(s, 'other');
    expect(events).toEqual([
      { type: 'peer', nick: 'other', change: 'renamed', previousNick: 'stranger' },
    ]);
    expect(reg.pinnedKey('other')).toBeUndefined();
  });
});

describe('PeerRegistry: names strangers choose', () => {
  it('keeps a free name, made typeable', () => {
    const { reg } = registry();
    expect(reg.strangerNick('dave', key(1))).toBe('dave');
    expect(reg.strangerNick('da ve', key(1))).toBe('da_ve');
  });

  it('suffixes a name in use or pinned, or one that looks like it, with the key', () => {
    const { reg } = registry([['carol', key(9)]]);
    reg.create('bob', true, [], 0);
    const short = shortFingerprint(key(1));
    expect(reg.strangerNick('bob', key(1))).toBe(`bob-${short}`);
    expect(reg.strangerNick('carol', key(1))).toBe(`carol-${short}`);
    expect(reg.strangerNick('b\u043eb', key(1))).toBe(`b\u043eb-${short}`); // Cyrillic о
    expect(reg.strangerNick('BOB', key(1))).toBe(`BOB-${short}`);
  });

  it('suffixes our own name, or one that looks like it: a stranger cannot appear as us', () => {
    const events: EndpointEvent[] = [];
    const reg = new PeerRegistry(new RecordingPeerHost(), (e) => events.push(e), 16, [], [], 'Bob');
    const short = shortFingerprint(key(1));
    expect(reg.strangerNick('Bob', key(1))).toBe(`Bob-${short}`);
    expect(reg.strangerNick('Bоb', key(1))).toBe(`Bоb-${short}`); // Cyrillic о
    expect(reg.strangerNick('Alice', key(1))).toBe('Alice');
    // Made without our name (the tests' registries): nothing extra is taken.
    expect(registry().reg.strangerNick('Bob', key(1))).toBe('Bob');
  });

  it('takes a longer piece of the key when the suffixed name is taken too, within 32 characters', () => {
    const { reg } = registry();
    const long = 'a'.repeat(23);
    reg.create(long, true, [], 0);
    reg.create(`${long}-${shortFingerprint(key(1))}`, false, [], 0);
    const name = reg.strangerNick(long, key(1));
    expect(name).toBe(`${'a'.repeat(11)}-${fingerprint(key(1)).slice(0, 20)}`);
    expect(name.length).toBe(32);
  });

  it('moves a stranger holding a name the user claims aside, keeping pinned and keyless records', () => {
    const { reg, events } = registry();
    const s = reg.create('bob', false, [], 0);
    reg.setKey(s, key(2));
    events.length = 0;
    reg.moveStrangerAside('bob');
    const moved = `bob-${shortFingerprint(key(2))}`;
    expect(reg.get(moved)).toBe(s);
    expect(reg.has('bob')).toBe(false);
    expect(events).toEqual([{ type: 'peer', nick: moved, change: 'renamed', previousNick: 'bob' }]);
    events.length = 0;
    const pinned = reg.create('carol', true, [], 0);
    reg.setKey(pinned, key(3));
    reg.create('dave', false, [HERE], 0); // no key yet: not a stranger who announced a name
    reg.moveStrangerAside('carol');
    reg.moveStrangerAside('dave');
    reg.moveStrangerAside('nobody');
    expect(reg.get('carol')).toBe(pinned);
    expect(reg.has('dave')).toBe(true);
    expect(events).toEqual([
      { type: 'peer', nick: 'carol', change: 'added' },
      { type: 'peer', nick: 'dave', change: 'added' },
    ]);
  });
});

describe('PeerRegistry: whom to forget for room', () => {
  it('the disconnected stranger gone longest, never a pinned, connected or busy one', () => {
    const { reg } = registry();
    expect(reg.evictionCandidate()).toBeUndefined();
    const pinned = reg.create('pinned', true, [], 0);
    const connected = reg.create('connected', false, [], 1);
    connected.adoptSession(session(1), key(1), 1);
    const busy = reg.create('busy', false, [], 2);
    busy.queueMessage(1, 0, Buffer.from('hi'));
    expect(reg.evictionCandidate()).toBeUndefined();
    const newer = reg.create('newer', false, [], 50);
    const older = reg.create('older', false, [], 30);
    const oldest = reg.create('oldest', false, [], 40);
    oldest.transition({ kind: 'unreachable', since: 20, reason: 'gone' });
    expect(reg.evictionCandidate()).toBe(oldest);
    reg.delete(oldest);
    expect(reg.evictionCandidate()).toBe(older);
    reg.delete(older);
    expect(reg.evictionCandidate()).toBe(newer);
    expect([pinned, connected, busy].includes(reg.evictionCandidate()!)).toBe(false);
  });

  it('of two strangers gone equally long, the first found stays the choice', () => {
    const { reg } = registry();
    const first = reg.create('first', false, [], 10);
    reg.create('second', false, [], 10);
    expect(reg.evictionCandidate()).toBe(first);
  });
});

describe('PeerRegistry: trust', () => {
  it('pins from the start, and reports a pin only when it changes', () => {
    const { reg, events } = registry([['bob', key(1)]]);
    expect(reg.pinnedKey('bob')).toEqual(key(1));
    expect(reg.pinnedKey('carol')).toBeUndefined();
    reg.pinName('bob', key(1));
    expect(events).toEqual([]);
    reg.pinName('bob', key(2));
    reg.pinName('carol', key(3));
    expect(events).toEqual([
      { type: 'pinned', nick: 'bob', fingerprint: fingerprint(key(2)) },
      { type: 'pinned', nick: 'carol', fingerprint: fingerprint(key(3)) },
    ]);
    expect(reg.pinnedKey('bob')).toEqual(key(2));
  });

  it('made without pins or blocks, it holds none', () => {
    const reg = new PeerRegistry(new RecordingPeerHost(), () => {}, 16);
    expect(reg.blockedKeys()).toEqual([]);
    // No name is taken: even a one-letter one is free.
    expect(reg.strangerNick('S', key(1))).toBe('S');
    expect(reg.pinnedKey('S')).toBeUndefined();
  });

  it('unpins a name once, and reports nothing for a name never pinned', () => {
    const { reg, events } = registry([['bob', key(1)]]);
    reg.unpin('carol');
    expect(events).toEqual([]);
    reg.unpin('bob');
    reg.unpin('bob');
    expect(events).toEqual([{ type: 'unpinned', nick: 'bob' }]);
    expect(reg.pinnedKey('bob')).toBeUndefined();
  });

  it('blocks keys given at start and later, by bytes or hex, until unblocked', () => {
    const { reg } = registry([], [key(1)]);
    expect(reg.isBlocked(key(1))).toBe(true);
    expect(reg.isBlocked(key(1).toString('hex'))).toBe(true);
    expect(reg.isBlocked(key(2))).toBe(false);
    reg.block(key(2));
    expect(reg.blockedKeys()).toEqual([key(1), key(2)]);
    reg.unblock(key(1));
    expect(reg.isBlocked(key(1))).toBe(false);
    expect(reg.blockedKeys()).toEqual([key(2)]);
  });

  it('remembers removed keys, the newest 1024, forgetting the oldest first', () => {
    const { reg } = registry();
    const k = (i: number): Buffer => {
      const b = Buffer.alloc(32);
      b.writeUInt32BE(i);
      return b;
    };
    reg.markRemoved(k(0));
    expect(reg.wasRemoved(k(0))).toBe(true);
    reg.unmarkRemoved(k(0));
    expect(reg.wasRemoved(k(0))).toBe(false);
    for (let i = 1; i <= 1024; i++) reg.markRemoved(k(i));
    expect(reg.wasRemoved(k(1))).toBe(true);
    reg.markRemoved(k(1025));
    expect(reg.wasRemoved(k(1))).toBe(false);
    expect(reg.wasRemoved(k(2))).toBe(true);
    expect(reg.wasRemoved(k(1025))).toBe(true);
  });
});
