import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import type { SentFrames, Session } from '../../../../source/net/core/conn/session.js';
import {
  describeRemoteClose,
  SessionSet,
  type SessionSetHost,
  wins,
} from '../../../../source/net/core/peers/sessions.js';
import { TAG_LENGTH } from '../../../../source/net/crypto/cipher.js';
import type { SentPacket } from '../../../../source/net/recovery/sentlog.js';
import { CloseCode } from '../../../../source/net/wire/frames.js';
import { DATA_HEADER_LENGTH } from '../../../../source/net/wire/packet.js';
import { testSession } from '../../../support/session.js';

/**
 * A peer's sessions on their own (sessions.ts): which one carries data after
 * a switch or a retirement, that data in flight on a dropped session goes
 * again on the next (never lost, never sent twice by the set itself), that
 * the peer's counters survive its sessions, the simultaneous-open tie-break,
 * and the words the user reads for a peer's CLOSE.
 */

const DIRECT: Addr = { address: '203.0.113.9', port: 9 };
const OTHER: Addr = { address: '203.0.113.10', port: 10 };
const VIA_RELAY: Addr = { address: '198.18.0.2', port: 49152 };

class Host implements SessionSetHost {
  readonly forgotten: Session[] = [];
  readonly requeued: number[][] = [];
  forget(session: Session): void {
    this.forgotten.push(session);
  }
  requeue(packets: SentPacket<SentFrames>[]): void {
    this.requeued.push(packets.map((p) => p.pn));
  }
  isRelayed(a: Addr): boolean {
    return a.address === VIA_RELAY.address;
  }
}

let nextIndex = 1;
function session(path: Addr = DIRECT, initiatorByte = 5): Session {
  const localIndex = nextIndex++;
  return testSession({
    localIndex,
    remoteIndex: localIndex + 100,
    initiatorStatic: Buffer.alloc(32, initiatorByte),
    remoteStatic: Buffer.alloc(32, 0xee),
    path,
  }).session;
}

/** Seals `n` packets of `payload` bytes on `s` and records them in flight. */
function sendOn(s: Session, n: number, payload = 100): number[] {
  const pns: number[] = [];
  for (let i = 0; i < n; i++) {
    const buf = Buffer.alloc(DATA_HEADER_LENGTH + payload + TAG_LENGTH);
    const pn = s.seal(buf, payload, i);
    s.loss.onPacketSent({
      pn,
      timeSent: i,
      size: buf.length,
      ackEliciting: true,
      inFlight: true,
      frames: { streamId: 1, offset: pn * payload, length: payload, more: [], ackLargest: -1 },
    });
    pns.push(pn);
  }
  return pns;
}

describe('SessionSet', () => {
  it('the first session becomes current with nothing to requeue', () => {
    const host = new Host();
    const set = new SessionSet(host);
    expect(set.all()).toEqual([]);
    const a = session();
    set.switchTo(a);
    expect(set.current).toBe(a);
    expect(set.all()).toEqual([a]);
    expect(host.requeued).toEqual([]);
    expect(host.forgotten).toEqual([]);
  });

  it('a switch requeues the old session’s data in flight and keeps the old one as the other', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    const b = session(OTHER);
    set.switchTo(a);
    sendOn(a, 3);
    set.keepAsOther(b);
    expect(set.all()).toEqual([a, b]);
    set.switchTo(b);
    expect(set.current).toBe(b);
    expect(set.others).toEqual([a]);
    expect(set.all()).toEqual([b, a]);
    // The three packets go again on b, once; a keeps nothing in flight.
    expect(host.requeued).toEqual([[0, 1, 2]]);
    expect(a.loss.discardAll()).toEqual([]);
    // Neither path changed: b's own is direct.
    expect(b.path).toEqual(OTHER);
    expect(host.forgotten).toEqual([]);
  });

  it('at most one other session: a third retires the oldest, its data requeued and its index forgotten', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    const b = session();
    const c = session();
    set.switchTo(a);
    set.keepAsOther(b);
    sendOn(b, 2);
    set.keepAsOther(c);
    expect(set.others).toEqual([c]);
    expect(set.all()).toEqual([a, c]);
    expect(host.forgotten).toEqual([b]);
    expect(host.requeued).toEqual([[0, 1]]);
    expect(set.lastPath).toEqual(DIRECT);
  });

  it('switching to a third session retires the other one: its data requeued, its index forgotten', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    const b = session();
    const c = session();
    set.switchTo(a);
    set.keepAsOther(b);
    sendOn(b, 2);
    set.switchTo(c);
    expect(set.current).toBe(c);
    expect(set.others).toEqual([a]);
    expect(host.forgotten).toEqual([b]);
    expect(host.requeued).toEqual([[], [0, 1]]);
  });

  it('with no current session (retired, not replaced) the other one is still held and counted', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    const b = session();
    set.switchTo(a);
    set.keepAsOther(b);
    sendOn(b, 1, 10);
    set.retire(a, false);
    expect(set.current).toBeUndefined();
    expect(set.all()).toEqual([b]);
    expect(set.totals(0).packetsSent).toBe(1);
  });

  it('switching from a direct session to a relayed one keeps the direct path the old one validated', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const direct = session(DIRECT);
    const relayed = session(VIA_RELAY);
    relayed.probe = { addr: OTHER, data: Buffer.alloc(8), tries: 1, deadline: 100 };
    set.switchTo(direct);
    set.switchTo(relayed);
    expect(relayed.path).toEqual(DIRECT);
    expect(relayed.probe).toBeUndefined();
  });

  it('a relayed path is kept when the old session was relayed too, or the new one is direct', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const r1 = session(VIA_RELAY);
    const r2 = session(VIA_RELAY);
    const probe = { addr: OTHER, data: Buffer.alloc(8), tries: 1, deadline: 100 };
    r2.probe = probe;
    set.switchTo(r1);
    set.switchTo(r2);
    expect(r2.path).toEqual(VIA_RELAY);
    expect(r2.probe).toBe(probe);
    const d = session(OTHER);
    set.switchTo(d);
    expect(d.path).toEqual(OTHER);
  });

  it('retire without requeue drops the data (a restart: the old instance’s streams are gone)', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    set.switchTo(a);
    sendOn(a, 2);
    set.retire(a, false);
    expect(host.requeued).toEqual([]);
    expect(set.current).toBeUndefined();
    expect(set.all()).toEqual([]);
    expect(host.forgotten).toEqual([a]);
    expect(set.lastPath).toEqual(DIRECT);
  });

  it('retiring the current session promotes the other; retiring the other promotes nothing', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    const b = session(OTHER);
    set.switchTo(a);
    set.keepAsOther(b);
    sendOn(b, 1);
    // The other one goes: a stays current, b's data is requeued.
    expect(set.retireAndPromote(b)).toBe(false);
    expect(set.current).toBe(a);
    expect(set.others).toEqual([]);
    expect(host.requeued).toEqual([[0]]);
    expect(set.lastPath).toEqual(OTHER);
    const c = session();
    set.keepAsOther(c);
    sendOn(a, 2);
    expect(set.retireAndPromote(a)).toBe(true);
    expect(set.current).toBe(c);
    expect(set.others).toEqual([]);
    expect(host.requeued).toEqual([[0], [0, 1]]);
    // The last one: nothing to promote.
    expect(set.retireAndPromote(c)).toBe(false);
    expect(set.current).toBeUndefined();
    expect(host.forgotten).toEqual([b, a, c]);
  });

  it('the peer’s totals count every session it has had, live or retired', () => {
    const host = new Host();
    const set = new SessionSet(host);
    const a = session();
    const b = session();
    set.switchTo(a);
    sendOn(a, 3, 100);
    a.packetsReceived = 4;
    a.bytesReceived = 400;
    a.loss.stats.packetsLost = 1;
    a.loss.stats.ptoCount = 2;
    set.keepAsOther(b);
    sendOn(b, 2, 50);
    b.packetsReceived = 1;
    b.bytesReceived = 10;
    b.loss.stats.packetsLost = 5;
    b.loss.stats.ptoCount = 7;
    const per = (n: number, payload: number) => n * (DATA_HEADER_LENGTH + payload + TAG_LENGTH);
    const expected = {
      packetsSent: 5,
      packetsReceived: 5,
      bytesSent: per(3, 100) + per(2, 50),
      bytesReceived: 410,
      packetsLost: 6,
      retransmits: 9,
      ptoCount: 9,
    };
    expect(set.totals(9)).toEqual(expected);
    // Retired, one then both: the same totals.
    set.retire(b, false);
    expect(set.totals(9)).toEqual(expected);
    set.retire(a, true);
    expect(set.all()).toEqual([]);
    expect(set.totals(9)).toEqual(expected);
    // A new session adds to them.
    const c = session();
    set.switchTo(c);
    sendOn(c, 1, 0);
    expect(set.totals(0)).toEqual({
      ...expected,
      packetsSent: 6,
      bytesSent: expected.bytesSent + per(1, 0),
      retransmits: 0,
    });
  });
});

describe('wins (simultaneous-open tie-break)', () => {
  it('the session whose initiator has the lower static key wins, on both sides alike', () => {
    const low = session(DIRECT, 1);
    const high = session(DIRECT, 2);
    expect(wins(low, high)).toBe(true);
    expect(wins(high, low)).toBe(false);
    // The same key (the same initiator twice) does not win over itself.
    expect(wins(low, session(DIRECT, 1))).toBe(false);
  });
});

describe('describeRemoteClose', () => {
  it('names each code as the user reads it; the free text only for a protocol violation', () => {
    expect(describeRemoteClose(CloseCode.Normal, 'ignored')).toBe('closed by peer');
    expect(describeRemoteClose(CloseCode.Blocked, 'x')).toBe('blocked by the peer');
    expect(describeRemoteClose(CloseCode.NotAccepted, 'x')).toBe('not accepted by the peer');
    expect(describeRemoteClose(CloseCode.IdleTimeout, 'x')).toBe('the peer timed out');
    expect(describeRemoteClose(CloseCode.Replaced, 'x')).toBe('replaced by a newer session');
    expect(describeRemoteClose(CloseCode.ProtocolViolation, 'bad frame')).toBe(
      'the peer saw a protocol violation: bad frame',
    );
    expect(describeRemoteClose(CloseCode.ProtocolViolation, '')).toBe(
      'the peer saw a protocol violation',
    );
    expect(describeRemoteClose(CloseCode.FlowControl, 'x')).toBe('closed by peer (code 2)');
    expect(describeRemoteClose(99, 'x')).toBe('closed by peer (code 99)');
  });
});
