import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import {
  DIAL_BACKOFF,
  DIAL_RETRY,
  DialPlan,
  LEARNED_ATTEMPTS,
  MAX_LEARNED,
  MAX_RELAYED,
  RELAYED_FROM_ATTEMPT,
} from '../../../../source/net/core/peers/dialplan.js';

/**
 * Where and when one peer is dialed (dialplan.ts), on its own: the backoff
 * schedule, given addresses never displaced by learned ones (the security
 * issue: one introduction must not redirect a friend's record), the bounded
 * tries at what a third party named, relayed candidates only from the second
 * attempt, and the discovery marks that make an INIT spend the third-party
 * budget.
 */

const at = (n: number, port = 4000): Addr => ({ address: `203.0.113.${n}`, port });
const G1 = at(1);
const G2 = at(2);
const R1 = { address: '198.18.0.1', port: 49152 };
const R2 = { address: '198.18.0.2', port: 49152 };
const R3 = { address: '198.18.0.3', port: 49152 };

describe('DialPlan', () => {
  it('backs off 0.5, 1, 2, 4, 8 s, then every 15 s; a restart starts over', () => {
    const plan = new DialPlan([G1]);
    expect(plan.nextAt).toBeUndefined();
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < DIAL_BACKOFF.length + 2; i++) {
      plan.take(now);
      delays.push(plan.nextAt! - now);
      now = plan.nextAt!;
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, DIAL_RETRY, DIAL_RETRY]);
    expect(plan.attempt).toBe(7);
    plan.restart();
    expect(plan.attempt).toBe(0);
    plan.take(now);
    expect(plan.nextAt).toBe(now + 500);
    plan.stop();
    expect(plan.nextAt).toBeUndefined();
  });

  it('schedule only brings the next attempt forward; postpone sets it', () => {
    const plan = new DialPlan([G1]);
    plan.schedule(100, 50);
    expect(plan.nextAt).toBe(150);
    plan.schedule(100, 80);
    expect(plan.nextAt).toBe(150);
    plan.schedule(100, 20);
    expect(plan.nextAt).toBe(120);
    // The same moment again changes nothing.
    plan.schedule(100, 20);
    expect(plan.nextAt).toBe(120);
    plan.postpone(100, 5000);
    expect(plan.nextAt).toBe(5100);
  });

  it('each attempt dials every given address, and each learned one while it has tries', () => {
    const plan = new DialPlan([G1, G2]);
    expect(plan.givenAddrs).toEqual([G1, G2]);
    expect(plan.hasGiven).toBe(true);
    expect(plan.learn(at(9), 'introduction', 2)).toBe(true);
    expect(plan.targets()).toEqual([G1, G2, at(9)]);
    expect(plan.direct()).toEqual([G1, G2, at(9)]);
    expect(plan.take(0)).toEqual({ given: [G1, G2], learned: [at(9)], relayed: [] });
    expect(plan.take(0)).toEqual({ given: [G1, G2], learned: [at(9)], relayed: [] });
    expect(plan.learnedCandidates[0]!.attemptsLeft).toBe(0);
    // Spent: no longer dialed, nor a target.
    expect(plan.take(0)).toEqual({ given: [G1, G2], learned: [], relayed: [] });
    expect(plan.targets()).toEqual([G1, G2]);
    expect(plan.learnedCandidates[0]!.attemptsLeft).toBe(0);
  });

  it('a learned address gets LEARNED_ATTEMPTS tries by default, and being told again re-arms nothing', () => {
    const plan = new DialPlan([G1]);
    expect(plan.learn(at(9), 'probe')).toBe(true);
    expect(plan.learnedCandidates).toEqual([
      { addr: at(9), source: 'probe', attemptsLeft: LEARNED_ATTEMPTS },
    ]);
    plan.take(0);
    expect(plan.learn(at(9), 'introduction')).toBe(false);
    expect(plan.learnedCandidates).toEqual([
      { addr: at(9), source: 'probe', attemptsLeft: LEARNED_ATTEMPTS - 1 },
    ]);
    let dials = 1;
    for (let i = 0; i < 20; i++) dials += plan.take(0).learned.length;
    expect(dials).toBe(LEARNED_ATTEMPTS);
  });

  it('a given address is never learned, and naming it as given drops it from the learned', () => {
    const plan = new DialPlan([G1]);
    expect(plan.learn(G1, 'introduction')).toBe(false);
    expect(plan.learnedCandidates).toEqual([]);
    expect(plan.learn(G2, 'introduction')).toBe(true);
    expect(plan.learn(at(3), 'introduction')).toBe(true);
    plan.setGiven([G2]);
    expect(plan.givenAddrs).toEqual([G2]);
    expect(plan.learnedCandidates.map((c) => c.addr)).toEqual([at(3)]);
  });

  it(`at most ${MAX_LEARNED} learned addresses: a new one replaces the oldest learned, never a given one`, () => {
    const plan = new DialPlan([G1]);
    for (let n = 10; n < 10 + MAX_LEARNED; n++) plan.learn(at(n), 'introduction');
    expect(plan.learnedCandidates).toHaveLength(MAX_LEARNED);
    plan.learn(at(99), 'introduction');
    expect(plan.learnedCandidates.map((c) => c.addr)).toEqual([at(11), at(12), at(13), at(99)]);
    expect(plan.givenAddrs).toEqual([G1]);
  });

  it('remove drops an address everywhere', () => {
    const plan = new DialPlan([G1, G2]);
    plan.learn(at(9), 'last-path');
    plan.learn(at(8), 'last-path');
    plan.remove(G2);
    plan.remove(at(9));
    expect(plan.givenAddrs).toEqual([G1]);
    expect(plan.learnedCandidates.map((c) => c.addr)).toEqual([at(8)]);
  });

  it('exhausted only when nothing given or relayed is left and every learned try is spent', () => {
    expect(new DialPlan().exhausted).toBe(true);
    expect(new DialPlan().hasGiven).toBe(false);
    expect(new DialPlan([G1]).exhausted).toBe(false);
    const learned = new DialPlan();
    learned.learn(at(9), 'introduction', 1);
    expect(learned.exhausted).toBe(false);
    learned.take(0);
    expect(learned.exhausted).toBe(true);
    const relayed = new DialPlan();
    relayed.setRelayed([R1]);
    expect(relayed.exhausted).toBe(false);
    expect(relayed.hasGiven).toBe(true);
    const learnedRelayed = new DialPlan();
    learnedRelayed.learnRelayed(R1);
    expect(learnedRelayed.exhausted).toBe(false);
    expect(learnedRelayed.hasGiven).toBe(false);
    for (let i = 0; i <= LEARNED_ATTEMPTS; i++) learnedRelayed.take(0);
    expect(learnedRelayed.exhausted).toBe(true);
  });

  it(`relayed candidates from attempt ${RELAYED_FROM_ATTEMPT} on: direct first, the relay one backoff step later`, () => {
    const plan = new DialPlan([G1]);
    plan.setRelayed([R1]);
    plan.learnRelayed(R2);
    expect(plan.relayed).toEqual([R1, R2]);
    expect(plan.take(0).relayed).toEqual([]);
    expect(plan.take(500).relayed).toEqual([R1, R2]);
    // Held back (withRelayed false): the learned one keeps its tries.
    expect(plan.take(1500, false).relayed).toEqual([]);
    let tries = 1;
    for (let i = 0; i < 10; i++) tries += plan.take(0).relayed.includes(R2) ? 1 : 0;
    expect(tries).toBe(LEARNED_ATTEMPTS);
    // The user's relayed address is dialed every time.
    expect(plan.take(0).relayed).toEqual([R1]);
  });

  it('relayed: our allocation, the given relayed addresses and the learned ones', () => {
    const plan = new DialPlan([G1]);
    expect(plan.relayed).toEqual([]);
    expect(plan.isRelayed(G1)).toBe(false);
    expect(plan.isRelayed({ ...G1, relay: true } as Addr)).toBe(true);
    plan.setRelayed([R1]);
    expect(plan.isRelayed(R1)).toBe(true);
    expect(plan.isRelayed(R2)).toBe(false);
    plan.learnRelayed(R2);
    expect(plan.isRelayed(R2)).toBe(true);
    // Known already: not learned twice (a given one, or a learned one).
    plan.learnRelayed(R1);
    plan.learnRelayed(R2);
    expect(plan.relayed).toEqual([R1, R2]);
    // At most MAX_RELAYED learned: the oldest goes.
    plan.learnRelayed(R3);
    plan.learnRelayed({ address: '198.18.0.4', port: 1 });
    expect(plan.relayed).toHaveLength(1 + MAX_RELAYED);
    expect(plan.relayed).toEqual([R1, R3, { address: '198.18.0.4', port: 1 }]);
    expect(plan.isRelayed(R2)).toBe(false);
  });

  it('discovery marks stick only to addresses still given or relayed, and the user’s word removes them', () => {
    const plan = new DialPlan([G1, G2]);
    plan.setRelayed([R1]);
    expect(plan.isFound(G1)).toBe(false);
    plan.markFound([G1, R1, at(7)], true);
    expect(plan.isFound(G1)).toBe(true);
    expect(plan.isFound(R1)).toBe(true);
    expect(plan.isFound(G2)).toBe(false);
    // Not dialed: no mark kept for it.
    expect(plan.isFound(at(7))).toBe(false);
    plan.setGiven([at(7), G1]);
    expect(plan.isFound(at(7))).toBe(false);
    // The user names G1 itself: no longer a third party's.
    plan.markFound([G1], false);
    expect(plan.isFound(G1)).toBe(false);
    expect(plan.isFound(R1)).toBe(true);
    // A given address that stops being dialed loses its mark at the next update.
    plan.markFound([G1], true);
    plan.setGiven([at(7)]);
    plan.markFound([], true);
    expect(plan.isFound(G1)).toBe(false);
    expect(plan.isFound(R1)).toBe(true);
  });
});
