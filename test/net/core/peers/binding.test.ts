import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import type { Session } from '../../../../source/net/core/conn/session.js';
import type { DropReason } from '../../../../source/net/core/errors.js';
import type { EndpointEvent } from '../../../../source/net/core/events.js';
import type { LocalNode } from '../../../../source/net/core/handshake/handshake.js';
import type { Established, Handshakes } from '../../../../source/net/core/handshake/handshakes.js';
import { type BinderDeps, SessionBinder } from '../../../../source/net/core/peers/binding.js';
import type { Dialer } from '../../../../source/net/core/peers/dialer.js';
import type { Peer } from '../../../../source/net/core/peers/peer.js';
import { PeerRegistry } from '../../../../source/net/core/peers/registry.js';
import { createPacketKey, KEY_LENGTH, TAG_LENGTH } from '../../../../source/net/crypto/cipher.js';
import type { Mesh } from '../../../../source/net/nat/mesh.js';
import { CloseCode, decodeFrames, type Frame } from '../../../../source/net/wire/frames.js';
import { HelloFlag } from '../../../../source/net/wire/hello.js';
import { decodePacket, PacketType } from '../../../../source/net/wire/packet.js';
import { RecordingPeerHost } from '../../../support/peerhost.js';
import { testSession } from '../../../support/session.js';

/**
 * The trust decision on its own (binding.ts): which record a completed
 * handshake is bound to, or why it is refused. A real registry; the dialer,
 * handshakes and mesh are recorders, since what the binder owes them is a
 * call with the right arguments (a refusal's code and words go to the other
 * side; a key mismatch and a self-connect are the dialer's to report).
 */

const OURS = Buffer.alloc(32, 0xaa);
const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);
const KEY_C = Buffer.alloc(32, 3);
const HERE: Addr = { address: '203.0.113.5', port: 4000 };
const HERE_OTHER_PORT: Addr = { address: '203.0.113.5', port: 5555 };
const THERE: Addr = { address: '203.0.113.6', port: 4000 };
const OTHER: Addr = { address: '203.0.113.7', port: 4000 };
const EXTRA: Addr = { address: '203.0.113.8', port: 4000 };

type Call = [string, ...unknown[]];

function setup(opts: { strangers?: boolean; maxPeers?: number; room?: boolean } = {}) {
  const calls: Call[] = [];
  const drops: DropReason[] = [];
  const events: EndpointEvent[] = [];
  const host = new RecordingPeerHost();
  const registry = new PeerRegistry(host, (e) => events.push(e), opts.maxPeers ?? 16);
  const deps: BinderDeps = {
    local: { identity: { publicKey: OURS } } as unknown as LocalNode,
    registry,
    dialer: {
      selfAnswered: (p: Peer, from: Addr) => calls.push(['selfAnswered', p.nick, from]),
      keyMismatch: (p: Peer, got: Buffer, from: Addr) =>
        calls.push(['keyMismatch', p.nick, got[0], from]),
    } as unknown as Dialer,
    handshakes: {
      refuse: (_s: Session, code: number, reason: string) => calls.push(['refuse', code, reason]),
      bind: (_s: Session, p: Peer, token: Buffer) => calls.push(['bind', p.nick, token[0]]),
      forgetPeer: (p: Peer) => calls.push(['forgetPeer', p.nick]),
    } as unknown as Handshakes,
    mesh: {
      onEstablished: (
        p: Peer,
        flags: number,
        from: Addr,
        _n: number,
        sent: number,
        fresh: boolean,
      ) => calls.push(['mesh', p.nick, flags, from, sent, fresh]),
    } as unknown as Mesh,
    acceptStrangers: () => opts.strangers ?? true,
    makeRoom: () => {
      calls.push(['makeRoom']);
      return opts.room ?? false;
    },
    drop: (r) => drops.push(r),
    emit: (e) => events.push(e),
    touched: (p) => calls.push(['touched', p.nick]),
    unschedule: (p) => calls.push(['unschedule', p.nick]),
  };
  return { binder: new SessionBinder(deps), registry, calls, drops, events, host };
}

let nextIndex = 1;
function established(
  key: Buffer,
  from: Addr,
  dialed?: Peer,
  hello: { nick?: string; flags?: number } = {},
  initiatorByte = 7,
): Established & { sendKey: Buffer } {
  const localIndex = nextIndex++;
  const { session, sendKey } = testSession({
    localIndex,
    remoteIndex: localIndex + 100,
    initiator: dialed !== undefined,
    initiatorStatic: Buffer.alloc(32, initiatorByte),
    remoteStatic: Buffer.alloc(32, 0xee),
    path: from,
    now: 10,
  });
  return {
    session,
    done: {
      hello: {
        identity: key,
        signature: Buffer.alloc(64),
        resetToken: Buffer.alloc(16, 0x5e),
        nick: hello.nick ?? 'announced',
        ...(hello.flags === undefined ? {} : { flags: hello.flags }),
      },
      remoteStatic: Buffer.alloc(32, initiatorByte),
      sendKey: createPacketKey('chacha20-poly1305', randomBytes(KEY_LENGTH)),
      recvKey: createPacketKey('chacha20-poly1305', randomBytes(KEY_LENGTH)),
    },
    dialed,
    from,
    now: 10,
    sentFlags: 9,
    sendKey,
  };
}

/** The CLOSE frames among `datagrams` that open with `key`. */
function closesSealedWith(datagrams: Buffer[], key: Buffer) {
  const out: Frame[] = [];
  for (const d of datagrams) {
    const p = decodePacket(d);
    if (p.type !== PacketType.Data) continue;
    const plain = Buffer.alloc(p.sealed.length - TAG_LENGTH);
    if (!createPacketKey('chacha20-poly1305', key).open(p.pn, p.header, p.sealed, plain)) continue;
    out.push(...decodeFrames(plain).filter((f) => f.type === 'close'));
  }
  return out;
}

const names = (calls: Call[]) => calls.map((c) => c[0]);

describe('SessionBinder: a session we dialed', () => {
  it('first use: the key that answers where the user said is pinned to the user’s name', () => {
    const { binder, registry, calls } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    bob.dialing.schedule(0, 500);
    const peer = binder.bind(established(KEY_A, HERE, bob, { nick: 'robert', flags: 0 }));
    expect(peer).toBe(bob);
    expect(bob.key).toEqual(KEY_A);
    expect(registry.withKey(KEY_A)).toBe(bob);
    expect(registry.pinnedKey('bob')).toEqual(KEY_A);
    expect(bob.announcedNick).toBe('robert');
    expect(bob.introducible).toBe(true);
    expect(bob.connected).toBe(true);
    // Dialing is over, and starts afresh next time.
    expect(bob.dialing.nextAt).toBeUndefined();
    expect(bob.dialing.attempt).toBe(0);
    expect(calls).toEqual([
      ['bind', 'bob', 0x5e],
      ['mesh', 'bob', 0, HERE, 9, true],
      ['touched', 'bob'],
    ]);
  });

  it('a record the user did not name (not pinned) learns the key without pinning a name', () => {
    const { binder, registry } = setup();
    const carol = registry.create('carol', false, [HERE], 0);
    expect(binder.bind(established(KEY_A, HERE, carol))).toBe(carol);
    expect(carol.key).toEqual(KEY_A);
    expect(registry.pinnedKey('carol')).toBeUndefined();
  });

  it('a pinned record answered by another key: refused, the dialer reports it', () => {
    const { binder, registry, calls } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    registry.setKey(bob, KEY_A);
    expect(binder.bind(established(KEY_B, HERE, bob))).toBeUndefined();
    expect(bob.key).toEqual(KEY_A);
    expect(bob.connected).toBe(false);
    expect(calls).toEqual([
      ['keyMismatch', 'bob', 2, HERE],
      ['refuse', CloseCode.NotAccepted, 'not accepted: key mismatch'],
    ]);
  });

  it('a pinned key that was removed earlier is no longer marked removed once it answers our dial', () => {
    const { binder, registry } = setup();
    registry.markRemoved(KEY_A);
    const bob = registry.create('bob', true, [HERE], 0);
    binder.bind(established(KEY_A, HERE, bob));
    expect(registry.wasRemoved(KEY_A)).toBe(false);
    // Not for a record the user did not name.
    registry.markRemoved(KEY_B);
    const carol = registry.create('carol', false, [THERE], 0);
    binder.bind(established(KEY_B, THERE, carol));
    expect(registry.wasRemoved(KEY_B)).toBe(true);
  });

  it('our own key answering is the dialer’s to report; nothing is bound', () => {
    const { binder, registry, calls } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    expect(binder.bind(established(OURS, HERE, bob))).toBeUndefined();
    expect(calls).toEqual([['selfAnswered', 'bob', HERE]]);
    expect(bob.key).toBeUndefined();
    // Incoming with our own key: dropped without a word.
    const incoming = setup();
    expect(incoming.binder.bind(established(OURS, HERE))).toBeUndefined();
    expect(incoming.calls).toEqual([]);
    expect(incoming.registry.size).toBe(0);
  });

  it('an unconfirmed claim: the same key at a given address confirms and pins it', () => {
    const { binder, registry } = setup();
    const bob = registry.create('bob', true, [THERE, HERE], 0);
    registry.setKey(bob, KEY_A);
    bob.unconfirmed = { from: HERE_OTHER_PORT };
    binder.bind(established(KEY_A, HERE, bob));
    expect(bob.unconfirmed).toBeUndefined();
    expect(registry.pinnedKey('bob')).toEqual(KEY_A);
  });

  it('an unconfirmed claim: the same key from elsewhere stays unconfirmed', () => {
    const { binder, registry } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    registry.setKey(bob, KEY_A);
    bob.unconfirmed = { from: HERE_OTHER_PORT };
    binder.bind(established(KEY_A, THERE, bob));
    expect(bob.unconfirmed).toEqual({ from: HERE_OTHER_PORT });
    expect(registry.pinnedKey('bob')).toBeUndefined();
  });

  it('an unconfirmed claim: another key at the given address wins, the claimant is told and dropped', () => {
    const setupHost = setup();
    const { binder, registry } = setupHost;
    const bob = registry.create('bob', true, [HERE], 0);
    const claim = established(KEY_A, HERE_OTHER_PORT, undefined, { nick: 'bob' });
    const { host } = setupHost;
    expect(binder.bind(claim)).toBe(bob);
    expect(bob.unconfirmed).toEqual({ from: HERE_OTHER_PORT });
    expect(registry.pinnedKey('bob')).toBeUndefined();
    expect(binder.bind(established(KEY_B, HERE, bob, {}, 8))).toBe(bob);
    expect(bob.unconfirmed).toBeUndefined();
    expect(bob.key).toEqual(KEY_B);
    expect(registry.withKey(KEY_A)).toBeUndefined();
    expect(registry.pinnedKey('bob')).toEqual(KEY_B);
    // A new peer to this record, not a restart of the claimant's instance.
    expect(bob.instance).toEqual(Buffer.alloc(32, 8));
    expect(bob.state.kind).toBe('connected');
    expect(closesSealedWith(host.sent, claim.sendKey)).toEqual([
      {
        type: 'close',
        code: CloseCode.NotAccepted,
        reason: 'another key answered at the address you gave',
      },
    ]);
  });

  it('a stranger who connected first with the key takes the user’s name, addresses and queue', () => {
    const { binder, registry, calls, events } = setup();
    const stranger = binder.bind(established(KEY_A, THERE, undefined, { nick: 'b0b' }))!;
    expect(stranger.nick).toBe('b0b');
    stranger.dialing.setGiven([THERE, OTHER]);
    const bob = registry.create('bob', true, [HERE, THERE, EXTRA], 0);
    bob.dialing.markFound([HERE, THERE], true);
    bob.queueMessage(1, 0, Buffer.from('hi'));
    calls.length = 0;
    events.length = 0;
    const peer = binder.bind(established(KEY_A, HERE, bob, {}, 8));
    expect(peer).toBe(stranger);
    expect(stranger.nick).toBe('bob');
    expect(stranger.pinned).toBe(true);
    expect(registry.get('bob')).toBe(stranger);
    expect(registry.pinnedKey('bob')).toEqual(KEY_A);
    expect(stranger.dialing.givenAddrs).toEqual([THERE, OTHER, HERE, THERE, EXTRA]);
    // What a record found stays a record's on its new owner; what the new owner
    // had itself stays its own, and what the user gave stays the user's.
    expect(stranger.dialing.isFound(HERE)).toBe(true);
    expect(stranger.dialing.isFound(THERE)).toBe(false);
    expect(stranger.dialing.isFound(EXTRA)).toBe(false);
    expect(stranger.takeQueued().map((m) => m.id)).toEqual([1]);
    expect(names(calls).slice(0, 2)).toEqual(['forgetPeer', 'unschedule']);
    expect(events).toContainEqual({
      type: 'peer',
      nick: 'bob',
      change: 'renamed',
      previousNick: 'b0b',
    });
    expect(events).not.toContainEqual({ type: 'peer', nick: 'bob', change: 'removed' });
  });

  it('a second user name for a key already pinned stays separate: the record goes, its queue moves', () => {
    const { binder, registry, events } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    binder.bind(established(KEY_A, HERE, bob));
    const robert = registry.create('robert', true, [THERE], 0);
    robert.queueMessage(4, 0, Buffer.from('x'));
    events.length = 0;
    expect(binder.bind(established(KEY_A, THERE, robert, {}, 8))).toBe(bob);
    expect(bob.nick).toBe('bob');
    expect(registry.get('robert')).toBeUndefined();
    expect(events).toEqual([{ type: 'peer', nick: 'robert', change: 'removed' }]);
    expect(bob.takeQueued().map((m) => m.id)).toEqual([4]);
    expect(bob.dialing.givenAddrs).toEqual([HERE, THERE]);
  });
});

describe('SessionBinder: a session they dialed', () => {
  it('a known key finds its record; a user-added record without a key, dialed there, learns it', () => {
    const { binder, registry } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    registry.setKey(bob, KEY_A);
    expect(binder.bind(established(KEY_A, THERE))).toBe(bob);
    const carol = registry.create('carol', true, [THERE], 0);
    expect(binder.bind(established(KEY_B, THERE, undefined, {}, 8))).toBe(carol);
    expect(carol.key).toEqual(KEY_B);
    expect(registry.pinnedKey('carol')).toEqual(KEY_B);
    expect(carol.unconfirmed).toBeUndefined();
  });

  it('the user’s name from the given IP on another port: taken, its key held unconfirmed', () => {
    const { binder, registry } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    expect(binder.bind(established(KEY_A, HERE_OTHER_PORT, undefined, { nick: 'bob' }))).toBe(bob);
    expect(bob.key).toEqual(KEY_A);
    expect(bob.unconfirmed).toEqual({ from: HERE_OTHER_PORT });
    expect(registry.pinnedKey('bob')).toBeUndefined();
  });

  it('a blocked key is refused and counted, before any record is looked at', () => {
    const { binder, registry, calls, drops } = setup();
    const bob = registry.create('bob', true, [HERE], 0);
    registry.block(KEY_A);
    expect(binder.bind(established(KEY_A, HERE, bob))).toBeUndefined();
    expect(binder.bind(established(KEY_A, THERE))).toBeUndefined();
    expect(drops).toEqual(['blocked', 'blocked']);
    expect(calls).toEqual([
      ['refuse', CloseCode.Blocked, 'not accepted'],
      ['refuse', CloseCode.Blocked, 'not accepted'],
    ]);
    expect(bob.key).toBeUndefined();
  });

  it('a stranger gets a record under a safe name when strangers are accepted', () => {
    const { binder, registry, calls } = setup();
    const peer = binder.bind(
      established(KEY_C, THERE, undefined, { nick: 'dave', flags: HelloFlag.NoIntroductions }),
    )!;
    expect(peer.nick).toBe('dave');
    expect(peer.pinned).toBe(false);
    expect(peer.key).toEqual(KEY_C);
    expect(registry.pinnedKey('dave')).toBeUndefined();
    expect(peer.introducible).toBe(false);
    expect(calls).toContainEqual(['mesh', 'dave', HelloFlag.NoIntroductions, THERE, 9, true]);
  });

  it('strangers refused, or no room: counted and told', () => {
    const closed = setup({ strangers: false });
    expect(closed.binder.bind(established(KEY_C, THERE))).toBeUndefined();
    expect(closed.drops).toEqual(['stranger']);
    expect(closed.calls).toEqual([['refuse', CloseCode.NotAccepted, 'not accepted']]);
    expect(closed.registry.size).toBe(0);

    const full = setup({ maxPeers: 1, room: false });
    full.registry.create('bob', true, [HERE], 0);
    expect(full.binder.bind(established(KEY_C, THERE))).toBeUndefined();
    expect(full.drops).toEqual(['stranger']);
    expect(full.calls).toEqual([['makeRoom'], ['refuse', CloseCode.NotAccepted, 'not accepted']]);

    const roomy = setup({ maxPeers: 1, room: true });
    roomy.registry.create('bob', true, [HERE], 0);
    expect(roomy.binder.bind(established(KEY_C, THERE, undefined, { nick: 'dave' }))?.nick).toBe(
      'dave',
    );
    expect(roomy.drops).toEqual([]);

    // Below the limit no room is made.
    const spare = setup({ maxPeers: 2 });
    spare.registry.create('bob', true, [HERE], 0);
    expect(spare.binder.bind(established(KEY_C, THERE))).toBeDefined();
    expect(names(spare.calls)).not.toContain('makeRoom');
  });

  it('a second session from the same instance is an extra: the mesh is told it is not fresh', () => {
    const { binder, calls } = setup();
    binder.bind(established(KEY_C, THERE, undefined, { nick: 'dave' }, 7));
    calls.length = 0;
    binder.bind(established(KEY_C, THERE, undefined, { nick: 'dave' }, 7));
    expect(calls.find((c) => c[0] === 'mesh')).toEqual(['mesh', 'dave', 0, THERE, 9, false]);
  });
});
