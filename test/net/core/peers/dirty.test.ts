import { describe, expect, it } from 'vitest';
import { DirtyPeers } from '../../../../source/net/core/peers/dirty.js';
import type { Peer } from '../../../../source/net/core/peers/peer.js';

/** DirtyPeers reads and writes only a peer's mark. */
const peer = (): Peer => ({ dirtyMark: false }) as unknown as Peer;

function drain(d: DirtyPeers, during?: (p: Peer) => void): Peer[] {
  const seen: Peer[] = [];
  for (let p = d.next(); p; p = d.next()) {
    seen.push(p);
    during?.(p);
  }
  d.clear();
  return seen;
}

describe('DirtyPeers: the peers the next flush visits, iterated as a Set is', () => {
  it('lists a peer once however often it is touched, in the order first touched', () => {
    const d = new DirtyPeers();
    const [a, b] = [peer(), peer()];
    d.add(a);
    d.add(b);
    d.add(a);
    expect(d.size).toBe(2);
    expect(drain(d)).toEqual([a, b]);
    expect(d.size).toBe(0);
    expect(a.dirtyMark).toBe(false);
    // Listed again after the flush.
    d.add(a);
    expect(drain(d)).toEqual([a]);
  });

  it('visits peers added during the walk, and skips one deleted before its turn', () => {
    const d = new DirtyPeers();
    const [a, b, c, e] = [peer(), peer(), peer(), peer()];
    d.add(a);
    d.add(b);
    d.add(c);
    const seen = drain(d, (p) => {
      if (p === a) {
        d.delete(b); // not visited yet: skipped
        d.add(e); // visited at the end
        d.add(a); // already listed: not again
      }
    });
    expect(seen).toEqual([a, c, e]);
  });

  it('deleting a peer already visited skips nobody', () => {
    const d = new DirtyPeers();
    const [a, b, c] = [peer(), peer(), peer()];
    d.add(a);
    d.add(b);
    d.add(c);
    const seen = drain(d, (p) => {
      if (p === b) d.delete(a);
    });
    expect(seen).toEqual([a, b, c]);
  });

  it('forgets a deleted peer, and deleting one not listed does nothing', () => {
    const d = new DirtyPeers();
    const [a, b] = [peer(), peer()];
    d.add(a);
    d.delete(b);
    d.delete(a);
    expect(d.size).toBe(0);
    expect(a.dirtyMark).toBe(false);
    expect(drain(d)).toEqual([]);
  });
});
