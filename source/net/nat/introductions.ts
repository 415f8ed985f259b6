import { type Addr, sameAddr } from '../core/address.js';
import { TokenBucket } from '../core/handshake/cookies.js';
import { type LocalView, thirdPartyTargetAllowed } from './targets.js';

/** Introductions each connected peer may send us: a burst, then this many a minute. */
export const INTRO_RATE_PER_MINUTE = 32;
/**
 * Datagrams that third parties (introductions, probe hits, a reset's last
 * path, DHT and LAN discovery records) may make this node send to addresses
 * the user never gave, in all,
 * across every peer: a burst, then this many a minute. Each is one INIT
 * (320 bytes, MIN_INIT_SIZE), so the whole node sends at most ≈ 38 KB a
 * minute (after a 20 KB burst) where strangers point it, however many
 * identities they use.
 */
export const LEARNED_DIALS_PER_MINUTE = 120;
const LEARNED_DIALS_BURST = 64;

/**
 * The policy for what others may make us do: how often one peer may
 * introduce, where an introduced address may point, and a node-wide budget
 * for the traffic all of it triggers.
 */
export class IntroductionPolicy {
  private readonly perPeer = new WeakMap<object, TokenBucket>();
  private readonly learnedDials = new TokenBucket(
    LEARNED_DIALS_PER_MINUTE / 60,
    LEARNED_DIALS_BURST,
  );
  private local: LocalView = { addresses: [] };
  /** Learned-address datagrams refused for want of budget (for stats and tests). */
  refusedDials = 0;
  /** Introduced addresses refused as targets (multicast, private elsewhere, …). */
  refusedTargets = 0;

  /**
   * The addresses of the discovery record being added right now (see
   * withFound): its first dial happens inside the add, before the peer's
   * dial plan can carry the marks.
   */
  private pendingFound: readonly Addr[] = [];

  /**
   * Runs `add` (the user-name machinery adding a peer from a discovery
   * record) with `addrs` counted as third-party addresses: a DHT or LAN
   * record names them, not the user, so every INIT to one spends the same
   * node-wide budget as an introduced address (the security issue's item 5).
   */
  withFound<T>(addrs: readonly Addr[], add: () => T): T {
    this.pendingFound = addrs;
    try {
      return add();
    } finally {
      this.pendingFound = [];
    }
  }

  /** Is `to` an address of the record being added (withFound)? */
  isPendingFound(to: Addr): boolean {
    return this.pendingFound.some((a) => sameAddr(a, to));
  }

  setLocalAddresses(addresses: readonly string[]): void {
    this.local = { addresses: [...addresses] };
  }

  /** May `introducer` introduce someone now? (Its own budget.) */
  admit(introducer: object, now: number): boolean {
    let budget = this.perPeer.get(introducer);
    if (!budget) {
      budget = new TokenBucket(INTRO_RATE_PER_MINUTE / 60, INTRO_RATE_PER_MINUTE);
      this.perPeer.set(introducer, budget);
    }
    return budget.take(now);
  }

  /** The introduced addresses we may dial, heard from a peer at `via`. */
  targets(addrs: readonly Addr[], via: Addr | undefined): Addr[] {
    const ok = addrs.filter((a) => thirdPartyTargetAllowed(a, via, this.local));
    this.refusedTargets += addrs.length - ok.length;
    return ok;
  }

  /** One datagram to a learned address: within the node-wide budget? */
  spendLearnedDial(now: number): boolean {
    if (this.learnedDials.take(now)) return true;
    this.refusedDials++;
    return false;
  }
}
