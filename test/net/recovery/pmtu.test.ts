import { describe, expect, it } from 'vitest';
import {
  BASE_PLPMTU,
  BLACK_HOLE_PTOS,
  MAX_PLPMTU,
  PathMtu,
  PMTU_RAISE_TIMER,
} from '../../../source/net/recovery/pmtu.js';

/** Drives a search over a path that carries datagrams up to `limit` bytes; returns the probes sent. */
function searchOver(m: PathMtu, limit: number, now = 0): number[] {
  const sent: number[] = [];
  for (let i = 0; i < 100; i++) {
    const size = m.probeSize(now);
    if (size === undefined) break;
    m.onProbeSent(size);
    sent.push(size);
    if (size <= limit) m.onProbeAcked(size, now);
    else m.onProbeLost(size, now);
  }
  return sent;
}

describe('PathMtu (DPLPMTUD, RFC 8899)', () => {
  it('starts at the base size and tries the maximum first', () => {
    const m = new PathMtu();
    expect(m.size).toBe(BASE_PLPMTU);
    expect(m.probeSize(0)).toBe(MAX_PLPMTU);
    m.onProbeSent(MAX_PLPMTU);
    // One probe at a time.
    expect(m.probeSize(0)).toBeUndefined();
    m.onProbeAcked(MAX_PLPMTU, 5);
    expect(m.size).toBe(MAX_PLPMTU);
    expect(m.state).toBe('complete');
    expect(m.probeSize(PMTU_RAISE_TIMER * 2)).toBeUndefined();
  });

  it('gives a size up after three lost probes and narrows down on the path limit', () => {
    for (const limit of [1200, 1201, 1280, 1300, 1399, 1400, 1451]) {
      const m = new PathMtu();
      const probes = searchOver(m, limit);
      expect(probes.slice(0, 3)).toEqual([MAX_PLPMTU, MAX_PLPMTU, MAX_PLPMTU]);
      expect(m.size).toBeLessThanOrEqual(limit);
      expect(m.size).toBeGreaterThan(limit - 16);
      expect(m.state).toBe('waiting');
      // Bounded: a binary search, three tries per failed size.
      expect(probes.length).toBeLessThanOrEqual(3 + 3 * 5);
    }
  });

  it('a lost probe short of MAX_PROBES is simply tried again', () => {
    const m = new PathMtu();
    m.onProbeSent(MAX_PLPMTU);
    m.onProbeLost(MAX_PLPMTU, 10);
    expect(m.probeSize(10)).toBe(MAX_PLPMTU);
    m.onProbeSent(MAX_PLPMTU);
    m.onProbeAcked(MAX_PLPMTU, 20);
    expect(m.size).toBe(MAX_PLPMTU);
  });

  it('searches again after the raise timer when it settled below the maximum', () => {
    const m = new PathMtu();
    searchOver(m, 1300, 0);
    const found = m.size;
    expect(m.probeSize(PMTU_RAISE_TIMER - 1)).toBeUndefined();
    // The path grew: the second search finds the maximum.
    searchOver(m, MAX_PLPMTU, PMTU_RAISE_TIMER);
    expect(found).toBeLessThan(MAX_PLPMTU);
    expect(m.size).toBe(MAX_PLPMTU);
  });

  it('falls back to the base size on repeated PTOs, then searches again after a backoff', () => {
    const m = new PathMtu();
    searchOver(m, MAX_PLPMTU);
    expect(m.size).toBe(MAX_PLPMTU);
    expect(m.onPto(BLACK_HOLE_PTOS - 1, 100)).toBe(false);
    expect(m.size).toBe(MAX_PLPMTU);
    expect(m.onPto(BLACK_HOLE_PTOS, 100)).toBe(true);
    expect(m.size).toBe(BASE_PLPMTU);
    expect(m.blackHoles).toBe(1);
    expect(m.probeSize(100)).toBeUndefined();
    expect(m.probeSize(1100)).toBe(MAX_PLPMTU);
    // The path now carries 1300: the search finds it. A second black hole waits longer.
    searchOver(m, 1300, 1100);
    expect(m.size).toBeLessThanOrEqual(1300);
    expect(m.size).toBeGreaterThan(BASE_PLPMTU);
    expect(m.onPto(BLACK_HOLE_PTOS, 5000)).toBe(true);
    expect(m.probeSize(6000)).toBeUndefined();
    expect(m.probeSize(7000)).toBe(MAX_PLPMTU);
    // At the base size there is nothing to fall back from.
    expect(m.onPto(BLACK_HOLE_PTOS + 3, 8000)).toBe(false);
  });

  it('ignores acks of sizes already settled or beyond what failed', () => {
    const m = new PathMtu();
    searchOver(m, 1300);
    const size = m.size;
    m.onProbeAcked(MAX_PLPMTU, 50);
    m.onProbeAcked(BASE_PLPMTU, 50);
    expect(m.size).toBe(size);
  });

  it('forgets everything on a new path', () => {
    const m = new PathMtu();
    searchOver(m, MAX_PLPMTU);
    m.reset();
    expect(m.size).toBe(BASE_PLPMTU);
    expect(m.probeSize(0)).toBe(MAX_PLPMTU);
  });

  it('does not search when the maximum is the base size, and rejects sizes out of range', () => {
    const m = new PathMtu(BASE_PLPMTU);
    expect(m.state).toBe('complete');
    expect(m.probeSize(0)).toBeUndefined();
    for (const bad of [1199, 1453, 1300.5, Number.NaN]) {
      expect(() => new PathMtu(bad)).toThrow(RangeError);
    }
  });
});
