import { type Addr, addrKey, sameAddr } from '../address.js';

/** Handshake attempts back off 0.5, 1, 2, 4, 8 s, then every 15 s. */
export const DIAL_BACKOFF = [500, 1000, 2000, 4000, 8000];
export const DIAL_RETRY = 15_000;
/** After this many unanswered attempts at given addresses the peer is shown as unreachable (and still tried). */
export const ATTEMPTS_BEFORE_UNREACHABLE = DIAL_BACKOFF.length + 1;
/** Tries at an address a third party told us (an introduction, a probe hit, a reset's last path). */
export const LEARNED_ATTEMPTS = 5;
/** Learned addresses kept per peer; a new one replaces the oldest learned, never a given one. */
export const MAX_LEARNED = 4;
/**
 * Relayed candidates are dialed from this attempt on (the first goes at
 * once, the second 0.5 s later): direct first with a short wait, so a pair
 * that can meet directly never loads the relay nor switches paths, and a
 * pair that cannot waits one backoff step for its first session.
 */
export const RELAYED_FROM_ATTEMPT = 2;
/** Relayed candidates kept per peer (one per relay it may use). */
export const MAX_RELAYED = 2;

/** Where a learned address came from. */
export type CandidateSource = 'introduction' | 'probe' | 'last-path';

export interface Candidate {
  readonly addr: Addr;
  readonly source: CandidateSource;
  /** Attempts left at this address; at 0 it is no longer dialed. */
  attemptsLeft: number;
}

/**
 * Where and when to dial one peer. Addresses the user gave (or an invite
 * code carried) are kept apart from addresses a third party named: those
 * are learned candidates with their own few attempts, and can never replace
 * or crowd out a given one (the security issue: one introduction must not
 * redirect a friend's record forever).
 */
export class DialPlan {
  private given: Addr[] = [];
  private learned: Candidate[] = [];
  /** Relayed addresses the user (an invite code) gave, and those a third party named. */
  private relayedAddrs: Addr[] = [];
  private learnedRelayed: Candidate[] = [];
  /**
   * Given and relayed addresses that a discovery record named, not the user
   * (addrKey): dialed like given ones (a record is how a friend who moved is
   * found again), but each INIT spends the node-wide third-party budget.
   */
  private found = new Set<string>();
  /** Attempts since the schedule last restarted. */
  attempt = 0;
  /** When the next attempt goes (undefined: not dialing). */
  nextAt: number | undefined;

  constructor(given: readonly Addr[] = []) {
    this.given = [...given];
  }

  get givenAddrs(): readonly Addr[] {
    return this.given;
  }

  get learnedCandidates(): readonly Candidate[] {
    return this.learned;
  }

  /** The peer's relayed transport addresses (an invite code's): the lowest-priority candidates. */
  get relayed(): readonly Addr[] {
    return this.learnedRelayed.length === 0
      ? this.relayedAddrs
      : [...this.relayedAddrs, ...this.learnedRelayed.map((c) => c.addr)];
  }

  /** True when `a` goes through a relay: our allocation, or one of the peer's relayed addresses. */
  isRelayed(a: Addr): boolean {
    if (a.relay) return true;
    for (const r of this.relayedAddrs) if (sameAddr(r, a)) return true;
    for (const c of this.learnedRelayed) if (sameAddr(c.addr, a)) return true;
    return false;
  }

  setRelayed(addrs: readonly Addr[]): void {
    this.relayedAddrs = [...addrs];
  }

  /** A third party named a relayed address: a candidate with a few tries, like a learned one. */
  learnRelayed(addr: Addr): void {
    if (this.isRelayed(addr)) return;
    this.learnedRelayed.push({ addr, source: 'introduction', attemptsLeft: LEARNED_ATTEMPTS });
    if (this.learnedRelayed.length > MAX_RELAYED) this.learnedRelayed.shift();
  }

  /** Direct candidates (given, then learned with tries left): where path upgrades probe. */
  direct(): Addr[] {
    return this.targets();
  }

  /**
   * Marks addresses as found by discovery (or, `found` false, as the user's
   * own). Only addresses still given or relayed keep a mark, so the set
   * stays as small as the plan.
   */
  markFound(addrs: readonly Addr[], found: boolean): void {
    for (const a of addrs) {
      if (found) this.found.add(addrKey(a));
      else this.found.delete(addrKey(a));
    }
    const dialed = new Set([...this.given, ...this.relayedAddrs].map(addrKey));
    for (const k of this.found) if (!dialed.has(k)) this.found.delete(k);
  }

  /** Did a discovery record, not the user, name `a`? */
  isFound(a: Addr): boolean {
    return this.found.size > 0 && this.found.has(addrKey(a));
  }

  /** The user (or an invite code) named these addresses: they replace the given ones only. */
  setGiven(addrs: readonly Addr[]): void {
    this.given = [...addrs];
    this.learned = this.learned.filter((c) => !this.isGiven(c.addr));
  }

  /**
   * A third party named an address: a bounded candidate. Returns false when
   * it adds nothing (already known, or given).
   */
  learn(addr: Addr, source: CandidateSource, attempts = LEARNED_ATTEMPTS): boolean {
    if (this.isGiven(addr)) return false;
    // Told again: nothing more. Re-arming its tries would let one introducer,
    // repeating itself, aim unbounded attempts at an address it chose (seen
    // by hand: 50 repeated introductions drew 20 INITs per address).
    if (this.learned.some((c) => sameAddr(c.addr, addr))) return false;
    this.learned.push({ addr, source, attemptsLeft: attempts });
    if (this.learned.length > MAX_LEARNED) this.learned.shift();
    return true;
  }

  /** Drops an address everywhere (e.g. it turned out to be this node itself). */
  remove(addr: Addr): void {
    this.given = this.given.filter((a) => !sameAddr(a, addr));
    this.learned = this.learned.filter((c) => !sameAddr(c.addr, addr));
  }

  /** Where an attempt would go now. */
  targets(): Addr[] {
    const out = [...this.given];
    for (const c of this.learned) if (c.attemptsLeft > 0) out.push(c.addr);
    return out;
  }

  /** Nothing left to dial: no given or relayed address and every learned one spent. */
  get exhausted(): boolean {
    return (
      this.given.length === 0 &&
      this.relayedAddrs.length === 0 &&
      !this.learned.some((c) => c.attemptsLeft > 0) &&
      !this.learnedRelayed.some((c) => c.attemptsLeft > 0)
    );
  }

  /** The user named it somewhere to look (directly or through a relay). */
  get hasGiven(): boolean {
    return this.given.length > 0 || this.relayedAddrs.length > 0;
  }

  /**
   * One attempt: the addresses to send an INIT to, each learned one spending
   * a try. Schedules the next attempt by the backoff.
   */
  /** `withRelayed` false: relayed candidates wait (and keep their tries) for a later attempt. */
  take(now: number, withRelayed = true): { given: Addr[]; learned: Addr[]; relayed: Addr[] } {
    this.attempt++;
    const learned: Addr[] = [];
    for (const c of this.learned) {
      if (c.attemptsLeft <= 0) continue;
      c.attemptsLeft--;
      learned.push(c.addr);
    }
    this.nextAt = now + (DIAL_BACKOFF[this.attempt - 1] ?? DIAL_RETRY);
    const relayed: Addr[] = [];
    if (withRelayed && this.attempt >= RELAYED_FROM_ATTEMPT) {
      relayed.push(...this.relayedAddrs);
      for (const c of this.learnedRelayed) {
        if (c.attemptsLeft <= 0) continue;
        c.attemptsLeft--;
        relayed.push(c.addr);
      }
    }
    return { given: [...this.given], learned, relayed };
  }

  /** Starts the backoff over (a new address, a user command, a lost session). */
  restart(): void {
    this.attempt = 0;
  }

  stop(): void {
    this.nextAt = undefined;
  }

  /** The next attempt goes no sooner than `delay` ms from now (a refusal: ask again only slowly). */
  postpone(now: number, delay: number): void {
    this.nextAt = now + delay;
  }

  /** Dials again after `delay` ms (unless already due sooner). */
  schedule(now: number, delay: number): void {
    const at = now + delay;
    if (this.nextAt === undefined || at < this.nextAt) this.nextAt = at;
  }

  private isGiven(addr: Addr): boolean {
    return this.given.some((a) => sameAddr(a, addr));
  }
}
