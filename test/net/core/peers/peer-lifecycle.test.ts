import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import { MAX_PACKET_NUMBER } from '../../../../source/net/core/conn/session.js';
import { RECV_WINDOW } from '../../../../source/net/core/conn/streamlimits.js';
import { IDLE_TIMEOUT, Peer } from '../../../../source/net/core/peers/peer.js';
import { createPacketKey, TAG_LENGTH } from '../../../../source/net/crypto/cipher.js';
import {
  CloseCode,
  closeFrameLength,
  decodeFrames,
  writeCloseFrame,
  writePing,
  writeStreamFrame,
} from '../../../../source/net/wire/frames.js';
import { decodePacket, PacketType } from '../../../../source/net/wire/packet.js';
import { RecordingPeerHost } from '../../../support/peerhost.js';
import { testSession } from '../../../support/session.js';

/**
 * How a peer's sessions end, through Peer's public methods (found by mutation
 * testing, test/mutation-survivors.md): the peer's CLOSE (answered once when
 * clean), a protocol violation in its stream data, silence past the idle
 * timeout, and packet numbers used up. Each leaves a state whose cause policy
 * reads (redial backoff, introductions), so the states are asserted whole.
 */

const PATH: Addr = { address: '203.0.113.9', port: 9 };
const INSTANCE = Buffer.alloc(32, 1);

function connected(pinned = true, addrs: Addr[] = pinned ? [PATH] : []) {
  const host = new RecordingPeerHost();
  const { session, sendKey } = testSession({
    initiator: true,
    initiatorStatic: Buffer.alloc(32, 5),
    remoteStatic: Buffer.alloc(32, 6),
    path: PATH,
  });
  const peer = new Peer(1, 'bob', pinned, addrs, 0, host);
  peer.adoptSession(session, INSTANCE, 0);
  host.events.length = 0;
  return { host, peer, session, sendKey };
}

function writePingByte(): number {
  const b = new Uint8Array(1);
  writePing(b, 0);
  return b[0]!;
}

function closePayload(code: number, reason: string): Uint8Array {
  const buf = new Uint8Array(closeFrameLength(code, reason));
  writeCloseFrame(buf, 0, code, reason);
  return buf;
}

function framesSent(host: RecordingPeerHost, key: Buffer) {
  return host.sent.flatMap((d) => {
    const p = decodePacket(d);
    if (p.type !== PacketType.Data) return [];
    const plain = Buffer.alloc(p.sealed.length - TAG_LENGTH);
    if (!createPacketKey('chacha20-poly1305', key).open(p.pn, p.header, p.sealed, plain)) {
      throw new Error('does not open');
    }
    return decodeFrames(plain);
  });
}

describe("Peer: the peer's CLOSE", () => {
  it('a payload without a CLOSE leaves the session open', () => {
    const { peer, session } = connected();
    expect(peer.onPayload(session, 0, Uint8Array.of(writePingByte()), PATH, 10)).toBe(true);
    expect(peer.connected).toBe(true);
  });

  it('a clean close is answered once, ends the session and says who closed it', () => {
    const { host, peer, session, sendKey } = connected();
    expect(peer.onPayload(session, 0, closePayload(CloseCode.Normal, 'bye'), PATH, 100)).toBe(
      false,
    );
    const frames = framesSent(host, sendKey);
    expect(frames).toEqual([{ type: 'close', code: CloseCode.Normal, reason: 'closed' }]);
    expect(peer.connected).toBe(false);
    expect(peer.state).toEqual({
      kind: 'disconnected',
      since: 100,
      reason: 'closed by peer',
      cause: { kind: 'remote', code: CloseCode.Normal },
    });
    expect(host.events).toEqual([{ type: 'peer', nick: 'bob', change: 'disconnected' }]);
  });

  it('any other close is not answered', () => {
    const { host, peer, session } = connected();
    peer.onPayload(session, 0, closePayload(CloseCode.Blocked, ''), PATH, 100);
    expect(host.sent).toEqual([]);
    expect(peer.state).toMatchObject({ reason: 'blocked by the peer' });
  });

  it('a clean close on a session whose packet numbers are used up is not answered', () => {
    const { host, peer, session } = connected();
    (session as unknown as { nextPn: number }).nextPn = MAX_PACKET_NUMBER;
    expect(() =>
      peer.onPayload(session, 0, closePayload(CloseCode.Normal, ''), PATH, 100),
    ).not.toThrow();
    expect(host.sent).toEqual([]);
    expect(peer.state.kind).toBe('disconnected');
  });

  it('after our own disconnect, a late close changes nothing more', () => {
    const { host, peer, session } = connected();
    peer.disconnect('bye', CloseCode.Normal, 50);
    host.events.length = 0;
    peer.onPayload(session, 0, closePayload(CloseCode.Blocked, ''), PATH, 100);
    expect(peer.state).toMatchObject({ since: 50, reason: 'bye' });
    expect(host.events).toEqual([]);
  });
});

describe('Peer: a protocol violation in stream data', () => {
  it('is counted, reported with the reason, and ends every session with a CLOSE', () => {
    const { host, peer, session, sendKey } = connected();
    const data = Uint8Array.of(1);
    const buf = new Uint8Array(32);
    const n = writeStreamFrame(buf, 0, 0, RECV_WINDOW, data);
    expect(peer.onPayload(session, 0, buf.subarray(0, n), PATH, 100)).toBe(false);
    expect(host.drops).toEqual(['protocol']);
    expect(host.events).toContainEqual({
      type: 'error',
      code: 'protocol',
      message: 'bob: stream data beyond the receive window',
      nick: 'bob',
    });
    expect(peer.state).toEqual({
      kind: 'disconnected',
      since: 100,
      reason: 'protocol violation: stream data beyond the receive window',
      cause: { kind: 'local', code: CloseCode.ProtocolViolation },
    });
    expect(framesSent(host, sendKey)).toContainEqual({
      type: 'close',
      code: CloseCode.ProtocolViolation,
      reason: 'protocol violation: stream data beyond the receive window',
    });
  });
});

describe('Peer: silence and exhaustion', () => {
  it('silence for the idle timeout ends the session with that cause', () => {
    const { peer } = connected();
    expect(peer.onTimeout(IDLE_TIMEOUT - 1)).toBe(false);
    expect(peer.onTimeout(IDLE_TIMEOUT)).toBe(true);
    expect(peer.state).toEqual({
      kind: 'disconnected',
      since: IDLE_TIMEOUT,
      reason: 'no answer for 45 s (idle timeout)',
      cause: { kind: 'idle-timeout' },
    });
  });

  it('packet numbers used up: the session ends and a pinned peer is dialed again at once', () => {
    const { host, peer, session } = connected(true);
    (session as unknown as { nextPn: number }).nextPn = MAX_PACKET_NUMBER;
    peer.flush(70);
    expect(host.sent).toEqual([]);
    expect(peer.state).toEqual({
      kind: 'disconnected',
      since: 70,
      reason: 'the session used up its packet numbers; reconnecting',
      cause: { kind: 'local', code: CloseCode.Normal },
    });
    expect(peer.dialing.nextAt).toBe(70);
  });

  it('a stranger is not dialed again, even at an address it was seen at', () => {
    const { peer, session } = connected(false, [PATH]);
    (session as unknown as { nextPn: number }).nextPn = MAX_PACKET_NUMBER;
    peer.flush(70);
    expect(peer.state.kind).toBe('disconnected');
    expect(peer.dialing.nextAt).toBeUndefined();
  });
});
