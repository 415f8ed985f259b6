import type { Peer } from './peer.js';

/**
 * Peers whose packets and deadline the next flush recomputes, in the order
 * they were touched. An array and a mark on each peer rather than a Set:
 * iterating a Set made an iterator, and its clear() a new hash table, on
 * every flush (≈ 0.2 KB per 1 KiB round trip, issue 16). Iteration is a
 * Set's: next() also visits peers added meanwhile, and a peer deleted before
 * its turn is not visited.
 */
export class DirtyPeers {
  private readonly list: Peer[] = [];
  /** How many next() handed out since the last clear(). */
  private visited = 0;

  get size(): number {
    return this.list.length;
  }

  add(peer: Peer): void {
    if (peer.dirtyMark) return;
    peer.dirtyMark = true;
    this.list.push(peer);
  }

  delete(peer: Peer): void {
    if (!peer.dirtyMark) return;
    peer.dirtyMark = false;
    const at = this.list.indexOf(peer);
    this.list.splice(at, 1);
    if (at < this.visited) this.visited--;
  }

  /** The next peer not yet visited since clear(), or undefined. */
  next(): Peer | undefined {
    return this.list[this.visited++];
  }

  /** Empties the list, keeping its backing store (`length = 0` would free it). */
  clear(): void {
    const list = this.list;
    while (list.length > 0) list.pop()!.dirtyMark = false;
    this.visited = 0;
  }
}
