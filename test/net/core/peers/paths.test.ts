import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import type { Session } from '../../../../source/net/core/conn/session.js';
import {
  FALLBACK_PTOS,
  FALLBACK_SILENCE,
  FOLLOW_SILENCE,
  PATH_CHALLENGE_TRIES,
  Paths,
  UPGRADE_HOLD_DOWN,
  UPGRADE_PROBE_PAUSE,
} from '../../../../source/net/core/peers/paths.js';
import type { Frame } from '../../../../source/net/wire/frames.js';
import { openSealed, testSession } from '../../../support/session.js';

/**
 * Path validation for one peer (paths.ts, RFC 9000 §8.2, §9) on its own: a
 * new address is challenged and the path moves only on the matching
 * response; what we send to an unvalidated address is bounded by three times
 * what came from it (§8.1); a relayed session looks for a direct path, one
 * candidate at a time, and a dead direct path falls back to the relay. What
 * is asserted is what goes on the wire (decoded) and where the session sends.
 */

const DIRECT: Addr = { address: '203.0.113.1', port: 4001 };
const MOVED: Addr = { address: '203.0.113.2', port: 4002 };
const OTHER: Addr = { address: '203.0.113.3', port: 4003 };
const RELAY: Addr = { address: '198.18.0.1', port: 49152 };
const RELAY2: Addr = { address: '198.18.0.2', port: 49152 };

interface Sent {
  to: Addr;
  frames: Frame[];
}

function setup(path: Addr = DIRECT, direct: Addr[] = [DIRECT, MOVED]) {
  const { session, sendKey } = testSession({ path });
  const sent: Sent[] = [];
  let n = 0;
  const host = {
    transmit(to: Addr, data: Buffer): void {
      sent.push({ to, frames: openSealed(sendKey, data).frames });
    },
    // Distinct, recognisable challenge data: 8 bytes of n.
    random: (len: number): Buffer => Buffer.alloc(len, ++n),
  };
  const where = {
    candidates: direct,
    direct: () => where.candidates,
    isRelayed: (a: Addr) => a.address.startsWith('198.18.') || a.relay === true,
  };
  return { session, sent, paths: new Paths(host, where), where };
}

/** The session's probe, read afresh (not narrowed by an earlier check). */
const probeOf = (s: Session) => s.probe;

const challenge = (data: Buffer): Frame => ({ type: 'path-challenge', data: new Uint8Array(data) });
const response = (data: Buffer): Frame => ({ type: 'path-response', data: new Uint8Array(data) });

/** FALLBACK_PTOS probe timeouts on `s` (one packet outstanding), the last at or after `at`. */
function fallbackPtos(s: Session, at: number): void {
  s.loss.onPacketSent({
    pn: 0,
    timeSent: 0,
    size: 100,
    ackEliciting: true,
    inFlight: true,
    frames: { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 },
  });
  for (let i = 0; i < FALLBACK_PTOS; i++) s.loss.onTimeout(Math.max(at, s.loss.deadline()!));
  expect(s.loss.ptoCount).toBe(FALLBACK_PTOS);
}

describe('Paths: validating a new address (RFC 9000 §8.2, §9)', () => {
  it('a packet on the session’s path starts nothing', () => {
    const { session, paths } = setup();
    paths.onArrival(session, DIRECT, 100, true, 10);
    expect(probeOf(session)).toBeUndefined();
  });

  it('the newest packet from a new address challenges it; the path moves only on the matching response', () => {
    const { session, sent, paths } = setup();
    paths.onArrival(session, MOVED, 100, true, 10);
    const data = Buffer.alloc(8, 1);
    expect(probeOf(session)).toEqual({ addr: MOVED, data, tries: 0, deadline: 10 });
    paths.flush(session, 10);
    expect(sent).toEqual([{ to: MOVED, frames: [challenge(data)] }]);
    // Wrong data, or the right data from elsewhere: nothing moves.
    paths.onResponse(session, MOVED, Buffer.alloc(8, 2), 20);
    paths.onResponse(session, OTHER, data, 20);
    expect(session.path).toEqual(DIRECT);
    expect(probeOf(session)).toBeDefined();
    paths.onResponse(session, MOVED, data, 20);
    expect(session.path).toEqual(MOVED);
    expect(probeOf(session)).toBeUndefined();
    // Direct to direct is not a switch between relay and direct.
    expect(paths.switches).toBe(0);
  });

  it('a late (reordered) packet from a new address starts nothing; one probe at a time', () => {
    const { session, paths } = setup();
    paths.onArrival(session, MOVED, 100, false, 10);
    expect(probeOf(session)).toBeUndefined();
    paths.onArrival(session, MOVED, 100, true, 11);
    const probe = session.probe;
    paths.onArrival(session, OTHER, 100, true, 12);
    expect(probeOf(session)).toBe(probe);
    expect(probeOf(session)?.addr).toEqual(MOVED);
  });

  it('challenges go again with backoff, and after PATH_CHALLENGE_TRIES the path stays where it was', () => {
    const { session, sent, paths } = setup();
    paths.onArrival(session, MOVED, 1000, true, 0);
    const srtt = session.loss.rtt.smoothedRtt;
    const base = Math.max(3 * srtt, 100);
    let now = 0;
    for (let i = 1; i <= PATH_CHALLENGE_TRIES; i++) {
      // Not before its deadline.
      paths.flush(session, now - 1);
      expect(sent).toHaveLength(i - 1);
      paths.flush(session, now);
      expect(sent).toHaveLength(i);
      expect(probeOf(session)?.tries).toBe(i);
      expect(probeOf(session)?.deadline).toBe(now + base * 2 ** (i - 1));
      now = session.probe!.deadline;
    }
    paths.flush(session, now);
    expect(sent).toHaveLength(PATH_CHALLENGE_TRIES);
    expect(probeOf(session)).toBeUndefined();
    expect(session.path).toEqual(DIRECT);
  });

  it('a small smoothed RTT still waits 100 ms between challenges', () => {
    const { session, paths } = setup();
    session.loss.rtt.update(1, 0, 0);
    expect(session.loss.rtt.smoothedRtt).toBe(1);
    paths.onArrival(session, MOVED, 1000, true, 0);
    paths.flush(session, 0);
    expect(probeOf(session)?.deadline).toBe(100);
  });

  it('expireIdle drops a probe only once its deadline has come', () => {
    const { session, paths } = setup();
    paths.onArrival(session, MOVED, 100, true, 50);
    paths.expireIdle(session, 49);
    expect(probeOf(session)).toBeDefined();
    paths.expireIdle(session, 50);
    expect(probeOf(session)).toBeUndefined();
    paths.expireIdle(session, 60);
    expect(probeOf(session)).toBeUndefined();
  });
});

describe('Paths: anti-amplification (RFC 9000 §8.1)', () => {
  it('to an unvalidated address: at most three times the payload bytes that came from it', () => {
    // A challenge packet's payload is 9 bytes (type + 8 bytes of data).
    const { session, sent, paths } = setup();
    paths.onArrival(session, MOVED, 2, true, 0);
    paths.flush(session, 0);
    // 6 bytes of credit: the 9-byte challenge is not sent (the try still counts).
    expect(sent).toEqual([]);
    expect(probeOf(session)?.tries).toBe(1);
    paths.onArrival(session, MOVED, 4, true, 1);
    // 18 bytes: exactly two challenges.
    paths.flush(session, session.probe!.deadline);
    paths.flush(session, session.probe!.deadline);
    expect(sent).toHaveLength(2);
    expect(probeOf(session)?.tries).toBe(3);
  });

  it('responses owed to an unvalidated address spend its credit too; to the session’s path they are free', () => {
    const { session, sent, paths } = setup();
    paths.onArrival(session, OTHER, 3, false, 0);
    for (let i = 0; i < 2; i++)
      expect(paths.onChallenge(session, OTHER, Buffer.alloc(8, 7 + i))).toBe(true);
    paths.flush(session, 0);
    // 9 bytes of credit: one of the two.
    expect(sent).toEqual([{ to: OTHER, frames: [response(Buffer.alloc(8, 7))] }]);
    expect(session.pathResponses).toEqual([]);
    for (let i = 0; i < 3; i++) paths.onChallenge(session, DIRECT, Buffer.alloc(8, i));
    paths.flush(session, 0);
    expect(sent.slice(1).map((s) => s.to)).toEqual([DIRECT, DIRECT, DIRECT]);
  });

  it('at most four responses owed at once: a fifth challenge is not taken', () => {
    const { session, paths } = setup();
    for (let i = 0; i < 4; i++)
      expect(paths.onChallenge(session, DIRECT, Buffer.alloc(8, i))).toBe(true);
    expect(paths.onChallenge(session, DIRECT, Buffer.alloc(8, 9))).toBe(false);
    expect(session.pathResponses.map((r) => r.data[0])).toEqual([0, 1, 2, 3]);
    // The data is copied: the datagram's buffer may be reused.
    const data = Buffer.alloc(8, 5);
    const s2 = setup().session;
    paths.onChallenge(s2, DIRECT, data);
    data.fill(0);
    expect(s2.pathResponses[0]!.data).toEqual(Buffer.alloc(8, 5));
  });

  it('credit is remembered for the four most recent addresses only', () => {
    const { session, sent, paths } = setup();
    const addrs = [1, 2, 3, 4, 5].map((i) => ({ address: `192.0.2.${i}`, port: i }));
    for (const a of addrs) paths.onArrival(session, a, 3, false, 0);
    // Crediting the first again moves it to the newest: it survives the next.
    paths.onArrival(session, addrs[1]!, 3, false, 0);
    paths.onArrival(session, { address: '192.0.2.9', port: 9 }, 3, false, 0);
    for (const a of addrs) paths.onChallenge(session, a, Buffer.alloc(8, a.port));
    paths.flush(session, 0);
    paths.onChallenge(session, addrs[4]!, Buffer.alloc(8, 5));
    paths.flush(session, 0);
    // addrs[0] was forgotten first, then addrs[2]; addrs[1] has 18 bytes.
    expect(sent.map((s) => s.to.port)).toEqual([2, 4, 5]);
  });
});

describe('Paths: relayed to direct and back (issue 17)', () => {
  it('a relayed session challenges each direct candidate in turn, a round every UPGRADE_PROBE_PAUSE', () => {
    const { session, sent, paths, where } = setup(RELAY, [DIRECT, RELAY2, MOVED]);
    expect(paths.deadline(session)).toBe(0);
    paths.flush(session, 0);
    expect(sent).toEqual([{ to: DIRECT, frames: [challenge(Buffer.alloc(8, 1))] }]);
    // Ours to probe: no credit needed, and it is not the relay.
    expect(paths.deadline(session)).toBeUndefined();
    // Unanswered: after its tries, the next candidate (the relayed one skipped).
    let now = 0;
    for (let p = probeOf(session), i = 0; p && i < 10; p = probeOf(session), i++) {
      now = p.deadline;
      paths.flush(session, now);
    }
    expect(paths.deadline(session)).toBe(0);
    const second = now;
    paths.flush(session, second);
    expect(probeOf(session)?.addr).toEqual(MOVED);
    // That ended the round: the next one begins UPGRADE_PROBE_PAUSE after it began.
    for (let p = probeOf(session), i = 0; p && i < 10; p = probeOf(session), i++)
      paths.flush(session, p.deadline);
    expect(paths.deadline(session)).toBe(second + UPGRADE_PROBE_PAUSE);
    expect(sent.map((s) => s.to)).toEqual([DIRECT, DIRECT, DIRECT, MOVED, MOVED, MOVED]);
    // The next round starts again from the first candidate.
    where.candidates = [DIRECT, RELAY2, MOVED, OTHER];
    paths.flush(session, second + UPGRADE_PROBE_PAUSE);
    expect(probeOf(session)?.addr).toEqual(DIRECT);
  });

  it('the round pause: the next round no sooner than UPGRADE_PROBE_PAUSE after the last began', () => {
    const { session, paths } = setup(RELAY, [DIRECT]);
    paths.flush(session, 100);
    expect(probeOf(session)?.addr).toEqual(DIRECT);
    session.probe = undefined;
    expect(paths.deadline(session)).toBe(100 + UPGRADE_PROBE_PAUSE);
    paths.flush(session, 100 + UPGRADE_PROBE_PAUSE - 1);
    expect(probeOf(session)).toBeUndefined();
    paths.flush(session, 100 + UPGRADE_PROBE_PAUSE);
    expect(probeOf(session)?.addr).toEqual(DIRECT);
  });

  it('no direct candidate: nothing challenged, and the next look a round later', () => {
    const { session, sent, paths } = setup(RELAY, [RELAY2]);
    paths.flush(session, 10);
    expect(sent).toEqual([]);
    expect(probeOf(session)).toBeUndefined();
    expect(paths.deadline(session)).toBe(10 + UPGRADE_PROBE_PAUSE);
  });

  it('a direct session never looks for another path', () => {
    const { session, sent, paths } = setup(DIRECT, [MOVED]);
    paths.flush(session, 0);
    expect(sent).toEqual([]);
    expect(paths.deadline(session)).toBeUndefined();
  });

  it('up to direct, then a dead direct path falls back to the relay, held down for a minute', () => {
    const { session, paths } = setup(RELAY, [DIRECT]);
    paths.flush(session, 0);
    const data = session.probe!.data;
    paths.onResponse(session, DIRECT, data, 50);
    expect(session.path).toEqual(DIRECT);
    expect(paths.switches).toBe(1);
    // Silent for FALLBACK_SILENCE, after FALLBACK_PTOS probe timeouts: back to the relay.
    session.lastReceived = 1000;
    fallbackPtos(session, 0);
    paths.fallBackIfDead(session, 1000 + FALLBACK_SILENCE - 1);
    expect(session.path).toEqual(DIRECT);
    paths.fallBackIfDead(session, 1000 + FALLBACK_SILENCE);
    expect(session.path).toEqual(RELAY);
    expect(paths.switches).toBe(2);
    const t = 1000 + FALLBACK_SILENCE;
    expect(paths.deadline(session)).toBe(t + UPGRADE_HOLD_DOWN);
    paths.flush(session, t + UPGRADE_HOLD_DOWN - 1);
    expect(probeOf(session)).toBeUndefined();
    paths.flush(session, t + UPGRADE_HOLD_DOWN);
    expect(probeOf(session)?.addr).toEqual(DIRECT);
  });

  it('a sender that never pauses still falls back: silence since its oldest unacknowledged packet, not a third PTO', () => {
    const { session, paths } = setup(RELAY, [DIRECT]);
    paths.flush(session, 0);
    paths.onResponse(session, DIRECT, session.probe!.data, 0);
    session.lastReceived = 0;
    // A message every 50 ms from t = 100, none acknowledged: each restarts the
    // PTO (RFC 9002 §6.2.1), so only the first one ever expires.
    const sendAt = (t: number, pn: number) =>
      session.loss.onPacketSent({
        pn,
        timeSent: t,
        size: 100,
        ackEliciting: true,
        inFlight: true,
        frames: { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 },
      });
    sendAt(100, 0);
    session.loss.onTimeout(session.loss.deadline()!);
    expect(session.loss.ptoCount).toBe(1);
    for (let pn = 1, t = 150; t < 3000; pn++, t += 50) {
      sendAt(t, pn);
      expect(session.loss.onTimeout(t).probes).toBe(0);
      if (t < 100 + FALLBACK_SILENCE) expect(paths.deadline(session)).toBe(100 + FALLBACK_SILENCE);
      paths.flush(session, t);
      expect(session.path).toEqual(t < 100 + FALLBACK_SILENCE ? DIRECT : RELAY);
    }
    expect(paths.switches).toBe(2);
  });

  it('after a quiet spell, one lost ACK is no silence: it counts from the packet that went unanswered', () => {
    const { session, paths } = setup(RELAY, [DIRECT]);
    paths.flush(session, 0);
    paths.onResponse(session, DIRECT, session.probe!.data, 0);
    // Nothing heard for 15 s (both idle), then a keepalive whose ACK is lost.
    session.lastReceived = 0;
    fallbackPtos(session, 15_000);
    expect(paths.deadline(session)).toBe(FALLBACK_SILENCE);
    // fallbackPtos sent its packet at 0; one sent at 15 s counts from there.
    const q = setup(RELAY, [DIRECT]);
    q.paths.flush(q.session, 0);
    q.paths.onResponse(q.session, DIRECT, q.session.probe!.data, 0);
    q.session.lastReceived = 0;
    q.session.loss.onPacketSent({
      pn: 0,
      timeSent: 15_000,
      size: 100,
      ackEliciting: true,
      inFlight: true,
      frames: { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 },
    });
    q.session.loss.onTimeout(q.session.loss.deadline()!);
    expect(q.paths.deadline(q.session)).toBe(15_000 + FALLBACK_SILENCE);
    q.paths.flush(q.session, 15_000 + FALLBACK_SILENCE - 1);
    expect(q.session.path).toEqual(DIRECT);
    q.paths.flush(q.session, 15_000 + FALLBACK_SILENCE);
    expect(q.session.path).toEqual(RELAY);
  });

  it('the peer’s packets from a direct address outrank our own unanswered candidate, once', () => {
    const { session, sent, paths } = setup(RELAY, [OTHER, DIRECT]);
    paths.flush(session, 0);
    expect(probeOf(session)?.addr).toEqual(OTHER);
    // The peer reached us directly: its address is challenged now, not after the round.
    paths.onArrival(session, DIRECT, 100, true, 5);
    expect(probeOf(session)?.addr).toEqual(DIRECT);
    paths.flush(session, 5);
    expect(sent.map((s) => s.to)).toEqual([OTHER, DIRECT]);
    // A probe an arrival started is not replaced (a replay from elsewhere cannot restart it).
    paths.onArrival(session, MOVED, 100, true, 6);
    expect(probeOf(session)?.addr).toEqual(DIRECT);
    paths.onResponse(session, DIRECT, probeOf(session)!.data, 7);
    expect(session.path).toEqual(DIRECT);
    // Nor does a relayed arrival, or one on a direct session, replace our candidate.
    const r = setup(RELAY, [OTHER]);
    r.paths.flush(r.session, 0);
    r.paths.onArrival(r.session, RELAY2, 100, true, 1);
    expect(r.session.probe?.addr).toEqual(OTHER);
    const late = setup(RELAY, [OTHER]);
    late.paths.flush(late.session, 0);
    late.paths.onArrival(late.session, DIRECT, 100, false, 1);
    expect(late.session.probe?.addr).toEqual(OTHER);
  });

  it('a relayed session the peer moved onto a direct path (its packets, our challenge) falls back to the relay', () => {
    const { session, paths } = setup(RELAY, [DIRECT]);
    // The peer's packet from a direct address starts the probe before any upgrade round.
    paths.onArrival(session, DIRECT, 100, true, 0);
    paths.flush(session, 0);
    paths.onResponse(session, DIRECT, probeOf(session)!.data, 10);
    expect(session.path).toEqual(DIRECT);
    session.lastReceived = 10;
    fallbackPtos(session, 0);
    paths.fallBackIfDead(session, 10 + FALLBACK_SILENCE);
    expect(session.path).toEqual(RELAY);
  });

  it('a move between two direct paths leaves no fallback: probe timeouts keep the new path', () => {
    const { session, paths } = setup(DIRECT, [DIRECT, MOVED]);
    paths.onArrival(session, MOVED, 100, true, 0);
    paths.flush(session, 0);
    paths.onResponse(session, MOVED, probeOf(session)!.data, 10);
    expect(session.path).toEqual(MOVED);
    session.lastReceived = 10;
    fallbackPtos(session, 0);
    paths.fallBackIfDead(session, 100_000);
    expect(session.path).toEqual(MOVED);
    expect(paths.switches).toBe(0);
  });

  it('fewer probe timeouts, or a session that was never relayed, stays on its direct path', () => {
    const a = setup(RELAY, [DIRECT]);
    a.paths.flush(a.session, 0);
    a.paths.onResponse(a.session, DIRECT, a.session.probe!.data, 0);
    a.session.loss.onPacketSent({
      pn: 0,
      timeSent: 0,
      size: 100,
      ackEliciting: true,
      inFlight: true,
      frames: { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 },
    });
    for (let i = 0; i < FALLBACK_PTOS - 1; i++)
      a.session.loss.onTimeout(a.session.loss.deadline()!);
    a.paths.fallBackIfDead(a.session, 100_000);
    expect(a.session.path).toEqual(DIRECT);
    const b = setup(DIRECT, [MOVED]);
    fallbackPtos(b.session, 0);
    b.paths.fallBackIfDead(b.session, 100_000);
    expect(b.session.path).toEqual(DIRECT);
    expect(b.paths.switches).toBe(0);
  });

  it('following the peer from a direct path onto the relay waits FOLLOW_SILENCE of direct silence', () => {
    const { session, paths } = setup(DIRECT, [DIRECT]);
    paths.onArrival(session, DIRECT, 100, true, 1000);
    paths.onArrival(session, RELAY, 100, true, 1000 + FOLLOW_SILENCE - 1);
    expect(probeOf(session)).toBeUndefined();
    paths.onArrival(session, RELAY, 100, true, 1000 + FOLLOW_SILENCE);
    expect(probeOf(session)?.addr).toEqual(RELAY);
    // Relayed to relayed is no detour: challenged at once.
    const r = setup(RELAY, []);
    r.paths.onArrival(r.session, RELAY, 100, true, 0);
    r.paths.onArrival(r.session, RELAY2, 100, true, 1);
    expect(r.session.probe?.addr).toEqual(RELAY2);
    // Direct to direct: at once.
    const d = setup(DIRECT, []);
    d.paths.onArrival(d.session, DIRECT, 100, true, 0);
    d.paths.onArrival(d.session, MOVED, 100, true, 1);
    expect(d.session.probe?.addr).toEqual(MOVED);
  });

  it('the peer’s new relayed address replaces a stale fallback, by the same way', () => {
    for (const via of [RELAY, { ...RELAY, relay: true as const }]) {
      const { session, paths } = setup(via, [DIRECT]);
      paths.flush(session, 0);
      paths.onResponse(session, DIRECT, session.probe!.data, 0);
      // Not stale: kept.
      paths.retarget(() => false, RELAY2);
      session.lastReceived = 0;
      fallbackPtos(session, 0);
      paths.fallBackIfDead(session, 10_000);
      expect(session.path).toEqual(via);
    }
    for (const via of [RELAY, { ...RELAY, relay: true as const }]) {
      const { session, paths } = setup(via, [DIRECT]);
      paths.flush(session, 0);
      paths.onResponse(session, DIRECT, session.probe!.data, 0);
      paths.retarget((a) => a.address === RELAY.address, RELAY2);
      session.lastReceived = 0;
      fallbackPtos(session, 0);
      paths.fallBackIfDead(session, 10_000);
      expect(session.path).toEqual(via.relay ? { ...RELAY2, relay: true } : RELAY2);
    }
    // No fallback yet: nothing to retarget.
    const { session, paths } = setup(DIRECT, [DIRECT]);
    paths.retarget(() => true, RELAY2);
    fallbackPtos(session, 0);
    paths.fallBackIfDead(session, 10_000);
    expect(session.path).toEqual(DIRECT);
  });
});
