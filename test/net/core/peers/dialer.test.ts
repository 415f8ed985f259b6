import { describe, expect, it } from 'vitest';
import { type Addr, viaRelay } from '../../../../source/net/core/address.js';
import type { EndpointEvent, NatMapping } from '../../../../source/net/core/events.js';
import type { Handshakes } from '../../../../source/net/core/handshake/handshakes.js';
import { Dialer, type DialerDeps } from '../../../../source/net/core/peers/dialer.js';
import {
  ATTEMPTS_BEFORE_UNREACHABLE,
  DIAL_BACKOFF,
  DIAL_RETRY,
  LEARNED_ATTEMPTS,
} from '../../../../source/net/core/peers/dialplan.js';
import { Peer } from '../../../../source/net/core/peers/peer.js';
import { fingerprint } from '../../../../source/net/crypto/identity.js';
import type { IntroductionPolicy } from '../../../../source/net/nat/introductions.js';
import { RecordingPeerHost } from '../../../support/peerhost.js';
import { testSession } from '../../../support/session.js';

/**
 * The dialer on its own (dialer.ts), with a real Peer and DialPlan and fake
 * handshakes: where each attempt sends INITs (learned and discovery-found
 * addresses within the node-wide budget, relayed ones also from our
 * allocation), and what the user is shown while we try and when we give up:
 * the peer's state, its reason, and the error events, word for word where
 * the words carry the diagnosis.
 */

const G1: Addr = { address: '203.0.113.1', port: 4001 };
const G2: Addr = { address: '203.0.113.2', port: 4002 };
const L1: Addr = { address: '192.0.2.7', port: 7 };
const R1: Addr = { address: '198.18.0.1', port: 49152 };

interface Fake {
  inits: string[];
  events: EndpointEvent[];
  permitted: string[];
  touched: number;
  beforeDial: number;
  budget: number;
  pendingFound: Addr[];
  natWhy: string | undefined;
  mapping: NatMapping;
  relayReady: boolean;
  probing: boolean;
  relayFailure: string | undefined;
}

const show = (a: Addr): string => `${a.relay ? 'relay:' : ''}${a.address}:${a.port}`;

function setup(given: Addr[] = [G1], pinned = true) {
  const fake: Fake = {
    inits: [],
    events: [],
    permitted: [],
    touched: 0,
    beforeDial: 0,
    budget: Number.POSITIVE_INFINITY,
    pendingFound: [],
    natWhy: undefined,
    mapping: 'endpoint-independent',
    relayReady: false,
    probing: false,
    relayFailure: undefined,
  };
  const handshakes = {
    sendInit: (_peer: Peer, to: Addr) => fake.inits.push(show(to)),
  } as unknown as Handshakes;
  const policy = {
    spendLearnedDial: () => {
      if (fake.budget <= 0) return false;
      fake.budget--;
      return true;
    },
    isPendingFound: (a: Addr) => fake.pendingFound.some((p) => show(p) === show(a)),
  } as unknown as IntroductionPolicy;
  const deps: DialerDeps = {
    handshakes,
    policy,
    emit: (e) => fake.events.push(e),
    natFailure: () => fake.natWhy,
    ourMapping: () => fake.mapping,
    beforeDial: () => {
      fake.beforeDial++;
    },
    touched: () => {
      fake.touched++;
    },
    permit: (a) => fake.permitted.push(show(a)),
    relayReady: () => fake.relayReady,
    probing: () => fake.probing,
    relayFailure: () => fake.relayFailure,
  };
  const host = new RecordingPeerHost();
  const peer = new Peer(1, 'bob', pinned, given, 0, host);
  return { fake, host, peer, dialer: new Dialer(deps) };
}

function connect(peer: Peer): void {
  const { session } = testSession({ path: G1 });
  peer.adoptSession(session, Buffer.alloc(32, 9), 0);
}

describe('Dialer', () => {
  it('start: connecting at once, an INIT to each given address, permitted through our relay', () => {
    const { fake, peer, dialer } = setup([G1, G2]);
    dialer.start(peer, 100);
    expect(fake.inits).toEqual([show(G1), show(G2)]);
    expect(fake.permitted).toEqual([show(G1), show(G2)]);
    expect(fake.beforeDial).toBe(1);
    expect(fake.touched).toBe(1);
    expect(peer.state).toEqual({ kind: 'connecting', since: 0, attempt: 1 });
    expect(peer.dialing.nextAt).toBe(100 + DIAL_BACKOFF[0]!);
  });

  it('start from another state shows connecting from now; a restart of the schedule each time', () => {
    const { peer, dialer } = setup();
    peer.transition({ kind: 'unreachable', since: 0, reason: 'x' });
    dialer.start(peer, 700);
    expect(peer.state).toEqual({ kind: 'connecting', since: 700, attempt: 1 });
    dialer.dial(peer, 1200);
    expect(peer.state).toEqual({ kind: 'connecting', since: 700, attempt: 2 });
    dialer.start(peer, 1300);
    expect(peer.state).toEqual({ kind: 'connecting', since: 700, attempt: 1 });
  });

  it('a connected peer is not dialed: its schedule stops', () => {
    const { fake, peer, dialer } = setup();
    connect(peer);
    const state = peer.state;
    dialer.start(peer, 5);
    expect(fake.inits).toEqual([]);
    expect(peer.dialing.nextAt).toBeUndefined();
    expect(peer.state).toBe(state);
  });

  it('learned and discovery-found addresses spend the node-wide budget; the user’s do not', () => {
    const { fake, peer, dialer } = setup([G1, G2]);
    peer.dialing.markFound([G2], true);
    peer.dialing.learn(L1, 'introduction');
    fake.budget = 1;
    dialer.dial(peer, 0);
    // G1 is the user's; G2 (found) takes the one unit; L1 finds none left.
    expect(fake.inits).toEqual([show(G1), show(G2)]);
    expect(fake.permitted).toEqual([show(G1), show(G2)]);
    fake.inits.length = 0;
    fake.budget = 1;
    fake.pendingFound = [G1];
    peer.dialing.markFound([G2], false);
    dialer.dial(peer, 500);
    // Now G1 is a pending discovery find and spends the unit; G2 is the user's again.
    expect(fake.inits).toEqual([show(G1), show(G2)]);
    fake.inits.length = 0;
    fake.budget = 10;
    fake.pendingFound = [];
    dialer.dial(peer, 1500);
    expect(fake.inits).toEqual([show(G1), show(G2), show(L1)]);
    expect(fake.permitted.at(-1)).toBe(show(L1));
  });

  it('relayed candidates: from the second attempt, also from our allocation when we hold one, not while probing', () => {
    const { fake, peer, dialer } = setup([G1]);
    peer.dialing.setRelayed([R1]);
    dialer.dial(peer, 0);
    expect(fake.inits).toEqual([show(G1)]);
    fake.inits.length = 0;
    fake.probing = true;
    dialer.dial(peer, 500);
    expect(fake.inits).toEqual([show(G1)]);
    fake.inits.length = 0;
    fake.probing = false;
    dialer.dial(peer, 1500);
    expect(fake.inits).toEqual([show(G1), show(R1)]);
    fake.inits.length = 0;
    fake.relayReady = true;
    dialer.dial(peer, 3500);
    expect(fake.inits).toEqual([show(G1), show(R1), show(viaRelay(R1))]);
    // Relayed candidates are not permitted through our own relay (only direct ones are).
    expect(fake.permitted).not.toContain(show(R1));
    // A relayed address a record found spends the budget.
    fake.inits.length = 0;
    peer.dialing.markFound([R1], true);
    fake.budget = 0;
    dialer.dial(peer, 7500);
    expect(fake.inits).toEqual([show(G1)]);
  });

  it(`silent given addresses: unreachable at attempt ${ATTEMPTS_BEFORE_UNREACHABLE}, said once, still tried`, () => {
    const { fake, peer, dialer } = setup([G1, G2]);
    let now = 0;
    for (let i = 1; i < ATTEMPTS_BEFORE_UNREACHABLE; i++) {
      dialer.dial(peer, now);
      now = peer.dialing.nextAt!;
      expect(peer.state.kind).toBe('connecting');
    }
    // The whole backoff (0.5 + 1 + 2 + 4 + 8 s) went unanswered: shown when the slow retries begin.
    expect(now).toBe(15_500);
    dialer.dial(peer, now);
    expect(peer.state).toEqual({
      kind: 'unreachable',
      since: now,
      reason: 'no answer from any address',
    });
    expect(fake.events).toEqual([
      {
        type: 'error',
        code: 'unreachable',
        message: `bob: no answer from 203.0.113.1:4001, 203.0.113.2:4002; still trying every ${DIAL_RETRY / 1000} s`,
        nick: 'bob',
      },
    ]);
    fake.inits.length = 0;
    dialer.dial(peer, peer.dialing.nextAt!);
    expect(fake.inits).toEqual([show(G1), show(G2)]);
    expect(fake.events).toHaveLength(1);
    expect(peer.state.kind).toBe('unreachable');
  });

  it('a key mismatch shown while dialing is not replaced by unreachable when the backoff runs out', () => {
    const { fake, peer, dialer } = setup([G1]);
    peer.key = Buffer.alloc(32, 1);
    dialer.dial(peer, 0);
    dialer.keyMismatch(peer, Buffer.alloc(32, 2), G1, 0);
    fake.events.length = 0;
    for (let i = 2; i <= ATTEMPTS_BEFORE_UNREACHABLE + 1; i++) dialer.dial(peer, i);
    expect(peer.state.kind).toBe('key-mismatch');
    expect(fake.events).toEqual([]);
  });

  it('a peer reached only through a relay is not declared unreachable by the direct backoff', () => {
    const { fake, peer, dialer } = setup([]);
    peer.dialing.setRelayed([R1]);
    for (let i = 0; i <= ATTEMPTS_BEFORE_UNREACHABLE; i++) dialer.dial(peer, i);
    expect(peer.state).toEqual({
      kind: 'connecting',
      since: 0,
      attempt: ATTEMPTS_BEFORE_UNREACHABLE + 1,
    });
    expect(fake.events).toEqual([]);
    // The user's relayed address never spends the third-party budget.
    fake.budget = 0;
    fake.inits.length = 0;
    dialer.dial(peer, 100);
    expect(fake.inits).toEqual([show(R1)]);
  });

  it('the unreachable reason names the NAT diagnosis, our symmetric NAT, and a failed relay', () => {
    const reach = (f: (fake: Fake) => void): string => {
      const { fake, peer, dialer } = setup([G1]);
      f(fake);
      for (let i = 0; i < ATTEMPTS_BEFORE_UNREACHABLE; i++) dialer.dial(peer, i);
      return peer.state.kind === 'unreachable' ? peer.state.reason : 'not unreachable';
    };
    expect(reach((f) => (f.natWhy = 'both behind symmetric NATs'))).toBe(
      'no answer from any address; both behind symmetric NATs',
    );
    expect(reach((f) => (f.mapping = 'endpoint-dependent'))).toBe(
      'no answer from any address; this node is behind a symmetric NAT (STUN), so the other side must be reachable or a relay is needed',
    );
    expect(reach((f) => (f.relayFailure = 'refused: 401'))).toBe(
      'no answer from any address; our relay failed (refused: 401)',
    );
  });

  it('learned candidates only, all spent: gives up, naming the introducer and why', () => {
    const giveUp = (f: (fake: Fake) => void, introducedBy?: string) => {
      const { fake, peer, dialer } = setup([], false);
      f(fake);
      peer.introducedBy = introducedBy;
      peer.dialing.learn(L1, 'introduction');
      let now = 0;
      for (let i = 0; i < LEARNED_ATTEMPTS; i++) {
        dialer.dial(peer, now);
        now = peer.dialing.nextAt!;
      }
      expect(peer.state.kind).toBe('connecting');
      expect(fake.inits).toHaveLength(LEARNED_ATTEMPTS);
      dialer.dial(peer, now);
      expect(fake.inits).toHaveLength(LEARNED_ATTEMPTS);
      expect(peer.dialing.nextAt).toBeUndefined();
      return peer.state;
    };
    expect(giveUp(() => {}, 'carol')).toEqual({
      kind: 'unreachable',
      since: 1000 * (0.5 + 1 + 2 + 4 + 8),
      reason:
        'no answer from any candidate (introduced by carol); both sides may be behind NATs that need a relay',
    });
    expect(giveUp((f) => (f.natWhy = 'nat says no'))).toMatchObject({
      reason: 'no answer from any candidate (introduced by a peer); nat says no',
    });
    expect(giveUp((f) => (f.mapping = 'endpoint-dependent'), 'carol')).toMatchObject({
      reason:
        'no answer from any candidate (introduced by carol); this node is behind a symmetric NAT (STUN): a relay is needed',
    });
  });

  it('an exhausted plan on a peer not connecting stops without a verdict', () => {
    const { fake, peer, dialer } = setup([]);
    peer.transition({ kind: 'unreachable', since: 0, reason: 'kept' });
    peer.dialing.schedule(0, 10);
    dialer.dial(peer, 10);
    expect(peer.dialing.nextAt).toBeUndefined();
    expect(peer.state).toEqual({ kind: 'unreachable', since: 0, reason: 'kept' });
    expect(fake.touched).toBe(0);
  });

  it('retry: a closed session dials again soon, a refusal only after DIAL_RETRY, nothing without a given address', () => {
    const { fake, peer, dialer } = setup([G1]);
    dialer.dial(peer, 0);
    dialer.dial(peer, 500);
    dialer.retry(peer, 10_000, false);
    expect(peer.dialing.attempt).toBe(0);
    // schedule only brings forward: the pending attempt at 2500 is sooner.
    expect(peer.dialing.nextAt).toBe(1500);
    peer.dialing.stop();
    dialer.retry(peer, 10_000, false);
    expect(peer.dialing.nextAt).toBe(10_000 + DIAL_BACKOFF[0]!);
    dialer.retry(peer, 10_000, true);
    expect(peer.dialing.nextAt).toBe(10_000 + DIAL_RETRY);
    expect(fake.touched).toBe(2 + 3);
    const learnedOnly = setup([], false);
    learnedOnly.peer.dialing.learn(L1, 'introduction');
    learnedOnly.dialer.retry(learnedOnly.peer, 0, false);
    expect(learnedOnly.peer.dialing.nextAt).toBeUndefined();
    expect(learnedOnly.fake.touched).toBe(0);
  });

  it('our own key answering: that address is dropped; with none left the peer is this node', () => {
    const { fake, peer, dialer } = setup([G1, G2]);
    dialer.selfAnswered(peer, G1, 50);
    expect(peer.dialing.givenAddrs).toEqual([G2]);
    expect(peer.state.kind).toBe('connecting');
    expect(fake.events).toEqual([]);
    peer.dialing.schedule(50, 100);
    dialer.selfAnswered(peer, G2, 60);
    expect(peer.state).toEqual({
      kind: 'unreachable',
      since: 60,
      reason: 'that address is this node itself',
    });
    expect(peer.dialing.nextAt).toBeUndefined();
    expect(fake.events).toEqual([
      {
        type: 'error',
        code: 'self-connect',
        message: '203.0.113.2:4002 is this node itself',
        address: G2,
      },
    ]);
  });

  it('our own key answering at the last address of a connected peer changes nothing else', () => {
    const { fake, peer, dialer } = setup([G1]);
    connect(peer);
    dialer.selfAnswered(peer, G1, 5);
    expect(peer.state.kind).toBe('connected');
    expect(fake.events).toEqual([]);
  });

  it('a pinned peer answered by another key: refused, both fingerprints named, asked again only slowly', () => {
    const { fake, peer, dialer } = setup([G1]);
    const pinned = Buffer.alloc(32, 1);
    const other = Buffer.alloc(32, 2);
    peer.key = pinned;
    dialer.keyMismatch(peer, other, G1, 100);
    expect(peer.dialing.nextAt).toBe(100 + DIAL_RETRY);
    expect(peer.state).toEqual({
      kind: 'key-mismatch',
      since: 100,
      expected: fingerprint(pinned),
      got: fingerprint(other),
    });
    expect(fake.events).toEqual([
      {
        type: 'error',
        code: 'key-mismatch',
        message: `bob at 203.0.113.1:4001 answered with key ${fingerprint(other)}, but bob is pinned to ${fingerprint(pinned)}: refused. Compare fingerprints with them, then trust the new key explicitly if it is really them.`,
        nick: 'bob',
        address: G1,
      },
    ]);
    // The same key again: said once. A third key: said again.
    dialer.keyMismatch(peer, other, G1, 200);
    expect(fake.events).toHaveLength(1);
    expect(peer.dialing.nextAt).toBe(200 + DIAL_RETRY);
    const third = Buffer.alloc(32, 3);
    dialer.keyMismatch(peer, third, G1, 300);
    expect(fake.events).toHaveLength(2);
    expect(peer.state).toMatchObject({ got: fingerprint(third) });
  });

  it('a relay that fails later is named in an unreachable peer’s reason, once', () => {
    const { fake, peer, dialer } = setup([G1]);
    peer.transition({ kind: 'unreachable', since: 0, reason: 'no answer from any address' });
    dialer.relayFailed(peer, 10);
    expect(peer.state).toEqual({
      kind: 'unreachable',
      since: 0,
      reason: 'no answer from any address',
    });
    fake.relayFailure = 'timed out';
    dialer.relayFailed(peer, 20);
    expect(peer.state).toEqual({
      kind: 'unreachable',
      since: 20,
      reason: 'no answer from any address; our relay failed (timed out)',
    });
    dialer.relayFailed(peer, 30);
    expect(peer.state).toMatchObject({ since: 20 });
    // Another failure replaces the first, not appended to it.
    fake.relayFailure = 'refused';
    dialer.relayFailed(peer, 40);
    expect(peer.state).toEqual({
      kind: 'unreachable',
      since: 40,
      reason: 'no answer from any address; our relay failed (refused)',
    });
    // Not unreachable, or connected: untouched.
    const c = setup([G1]);
    c.fake.relayFailure = 'x';
    dialer.relayFailed(c.peer, 50);
    expect(c.peer.state).toEqual({ kind: 'connecting', since: 0, attempt: 0 });
    c.peer.transition({ kind: 'unreachable', since: 0, reason: 'r' });
    connect(c.peer);
    c.dialer.relayFailed(c.peer, 60);
    expect(c.peer.state.kind).toBe('connected');
  });
});
