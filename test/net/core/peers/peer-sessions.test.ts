import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import { Session } from '../../../../source/net/core/conn/session.js';
import { Peer } from '../../../../source/net/core/peers/peer.js';
import { SIMULTANEOUS_OPEN_WINDOW } from '../../../../source/net/core/peers/sessions.js';
import { createPacketKey, KEY_LENGTH, TAG_LENGTH } from '../../../../source/net/crypto/cipher.js';
import { CloseCode, decodeFrames, writePing } from '../../../../source/net/wire/frames.js';
import { decodePacket, PacketType } from '../../../../source/net/wire/packet.js';
import { RecordingPeerHost } from '../../../support/peerhost.js';

/**
 * Peer's session adoption and our own disconnect, through its public methods
 * (found by mutation testing, test/mutation-survivors.md): which session
 * carries data after a simultaneous open or a restart, what a disconnect
 * sends and records, and that data in flight is not lost with the session.
 */

const PATH: Addr = { address: '203.0.113.9', port: 9 };

interface Made {
  session: Session;
  sendKey: Buffer;
}

/** A session whose initiator's static key is `initiatorByte` repeated (the tie-break's input). */
function make(localIndex: number, initiatorByte: number, now: number): Made {
  const sendKey = randomBytes(KEY_LENGTH);
  const session = new Session({
    localIndex,
    remoteIndex: localIndex + 100,
    initiator: true,
    initiatorStatic: Buffer.alloc(32, initiatorByte),
    remoteStatic: Buffer.alloc(32, 0xee),
    sendKey: createPacketKey('chacha20-poly1305', sendKey),
    recvKey: createPacketKey('chacha20-poly1305', randomBytes(KEY_LENGTH)),
    path: PATH,
    now,
  });
  return { session, sendKey };
}

/** The frames of a DATA datagram sealed with `key`. */
function framesOf(datagram: Buffer, key: Buffer) {
  const p = decodePacket(datagram);
  if (p.type !== PacketType.Data) throw new Error('not DATA');
  const plain = Buffer.alloc(p.sealed.length - TAG_LENGTH);
  if (!createPacketKey('chacha20-poly1305', key).open(p.pn, p.header, p.sealed, plain)) {
    throw new Error('does not open');
  }
  return decodeFrames(plain);
}

const INSTANCE = Buffer.alloc(32, 1);

describe('Peer: which session carries data', () => {
  it('a second session from the same instance is an extra; a new instance is a restart', () => {
    const host = new RecordingPeerHost();
    const peer = new Peer(1, 'bob', true, [PATH], 0, host);
    const a = make(1, 5, 0).session;
    expect(peer.adoptSession(a, INSTANCE, 0)).toBe('connected');
    expect(peer.adoptSession(make(2, 6, 10).session, INSTANCE, 10)).toBe('extra');
    const c = make(3, 7, 20).session;
    expect(peer.adoptSession(c, Buffer.alloc(32, 2), 20)).toBe('restarted');
    expect(peer.current).toBe(c);
    expect(peer.sessions()).toEqual([c]);
    expect(host.events.filter((e) => e.type === 'peer').map((e) => e.change)).toEqual([
      'connected',
      'restarted',
    ]);
  });

  it('within the simultaneous-open window the tie-break decides; after it, the newer wins', () => {
    // wins(a, b): the session whose initiator's static key sorts first.
    const cases = [
      { at: 1000, newByte: 9, current: 'old' }, // old wins the tie-break: kept
      { at: 1000, newByte: 1, current: 'new' }, // new wins the tie-break
      { at: SIMULTANEOUS_OPEN_WINDOW - 1, newByte: 9, current: 'old' },
      { at: SIMULTANEOUS_OPEN_WINDOW, newByte: 9, current: 'new' }, // not simultaneous
      { at: 60_000, newByte: 9, current: 'new' },
    ] as const;
    for (const { at, newByte, current } of cases) {
      // The first session opens at 10 s: the window counts from it.
      const t0 = 10_000;
      const peer = new Peer(1, 'bob', true, [PATH], t0, new RecordingPeerHost());
      const old = make(1, 5, t0).session;
      peer.adoptSession(old, INSTANCE, t0);
      const fresh = make(2, newByte, t0 + at).session;
      expect(peer.adoptSession(fresh, INSTANCE, t0 + at)).toBe('extra');
      expect(peer.current, `new at ${at} ms, key byte ${newByte}`).toBe(
        current === 'old' ? old : fresh,
      );
      expect(peer.sessions()).toHaveLength(2);
    }
  });

  it('data on the session the tie-break prefers moves us onto it; other packets do not', () => {
    // After a simultaneous open each side may have made the other session current: data
    // arriving on the preferred one brings both onto it.
    const ping = Uint8Array.of(1);
    writePing(ping, 0);
    const setup = () => {
      const peer = new Peer(1, 'bob', true, [PATH], 0, new RecordingPeerHost());
      const preferred = make(1, 5, 0).session; // its initiator key sorts first: it wins
      const other = make(2, 9, 0).session;
      peer.adoptSession(preferred, INSTANCE, 0);
      peer.adoptSession(other, INSTANCE, SIMULTANEOUS_OPEN_WINDOW); // newer: current
      expect(peer.current).toBe(other);
      return { peer, preferred, other };
    };
    const a = setup();
    a.peer.onPayload(a.other, 0, ping, PATH, 6000);
    expect(a.peer.current).toBe(a.other); // data on the current one: nothing moves
    a.peer.onPayload(a.preferred, 0, new Uint8Array(0), PATH, 6001);
    expect(a.peer.current).toBe(a.other); // nothing ack-eliciting: nothing moves
    a.peer.onPayload(a.preferred, 1, ping, PATH, 6002);
    expect(a.peer.current).toBe(a.preferred);
    expect(a.peer.sessions()).toHaveLength(2);
  });

  it('is relayed only when the current path is a relayed one', () => {
    const peer = new Peer(1, 'bob', true, [PATH], 0, new RecordingPeerHost());
    expect(peer.relayed).toBe(false); // no session at all
    peer.adoptSession(make(1, 5, 0).session, INSTANCE, 0);
    expect(peer.relayed).toBe(false); // a direct path
  });
});

describe('Peer: our disconnect', () => {
  it('closes every session with the code, records why, and reports it', () => {
    const host = new RecordingPeerHost();
    const peer = new Peer(1, 'bob', true, [PATH], 0, host);
    const a = make(1, 5, 0);
    const b = make(2, 9, 10);
    peer.adoptSession(a.session, INSTANCE, 0);
    peer.adoptSession(b.session, INSTANCE, 10);
    host.events.length = 0;
    peer.disconnect('blocked by the user', CloseCode.Blocked, 100);
    expect(peer.state).toEqual({
      kind: 'disconnected',
      since: 100,
      reason: 'blocked by the user',
      cause: { kind: 'local', code: CloseCode.Blocked },
    });
    expect(host.events).toEqual([{ type: 'peer', nick: 'bob', change: 'disconnected' }]);
    expect(peer.connected).toBe(false);
    // Where the peer last spoke from (authenticated) is kept for the next dial.
    expect(peer.lastPath).toEqual(PATH);
    // One CLOSE on each session, in its own keys.
    expect(host.sent).toHaveLength(2);
    const closes = [framesOf(host.sent[0]!, a.sendKey), framesOf(host.sent[1]!, b.sendKey)].map(
      (fs) => fs.find((f) => f.type === 'close'),
    );
    for (const c of closes) expect(c).toMatchObject({ code: CloseCode.Blocked });
  });

  it('reports a removal as such when asked', () => {
    const host = new RecordingPeerHost();
    const peer = new Peer(1, 'bob', true, [PATH], 0, host);
    peer.adoptSession(make(1, 5, 0).session, INSTANCE, 0);
    host.events.length = 0;
    peer.disconnect('removed', CloseCode.Normal, 5, 'removed');
    expect(host.events).toEqual([{ type: 'peer', nick: 'bob', change: 'removed' }]);
  });

  it('sends no CLOSE on a session whose packet numbers are used up (a nonce would repeat)', () => {
    const host = new RecordingPeerHost();
    const peer = new Peer(1, 'bob', true, [PATH], 0, host);
    const a = make(1, 5, 0).session;
    peer.adoptSession(a, INSTANCE, 0);
    (a as unknown as { nextPn: number }).nextPn = Number.MAX_SAFE_INTEGER;
    expect(a.exhausted).toBe(true);
    expect(() => peer.disconnect('bye', CloseCode.Normal, 5)).not.toThrow();
    expect(host.sent).toEqual([]);
    expect(peer.state.kind).toBe('disconnected');
  });

  it('a message in flight when we disconnect goes again on the next session', () => {
    const host = new RecordingPeerHost();
    const peer = new Peer(1, 'bob', true, [PATH], 0, host);
    const first = make(1, 5, 0);
    peer.adoptSession(first.session, INSTANCE, 0);
    peer.queueMessage(7, 0, Buffer.from('in flight'));
    peer.flush(1);
    const sentData = host.sent.flatMap((d) => framesOf(d, first.sendKey));
    expect(sentData.some((f) => f.type === 'stream')).toBe(true);
    peer.disconnect('bye', CloseCode.Normal, 2);
    host.sent.length = 0;
    const next = make(2, 5, 10);
    peer.adoptSession(next.session, INSTANCE, 10);
    peer.flush(10);
    const again = host.sent.flatMap((d) => framesOf(d, next.sendKey));
    const bytes = Buffer.concat(
      again.flatMap((f) => (f.type === 'stream' && f.streamId === 0 ? [f.data] : [])),
    );
    // [length 9][the message], from the start of the stream.
    expect(bytes.toString('latin1')).toBe('\x09in flight');
    expect(peer.pendingMessageIds()).toEqual([7]);
  });
});
