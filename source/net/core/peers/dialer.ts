import { fingerprint } from '../../crypto/identity.js';
import type { IntroductionPolicy } from '../../nat/introductions.js';
import { type Addr, addrKey, viaRelay } from '../address.js';
import type { EndpointEvent, NatMapping } from '../events.js';
import type { Handshakes } from '../handshake/handshakes.js';
import { ATTEMPTS_BEFORE_UNREACHABLE, DIAL_BACKOFF, DIAL_RETRY } from './dialplan.js';
import type { Peer } from './peer.js';

export interface DialerDeps {
  handshakes: Handshakes;
  policy: IntroductionPolicy;
  emit(event: EndpointEvent): void;
  /** Why the NATs on both sides defeat a dial, if known. */
  natFailure(peer: Peer): string | undefined;
  ourMapping(): NatMapping;
  /** Called before each attempt (many-port probing may start). */
  beforeDial(peer: Peer, now: number): void;
  /** `peer`'s timers changed. */
  touched(peer: Peer): void;
  /** Lets `addr`'s IP through our relay allocation (a peer may answer on our relayed address). */
  permit(addr: Addr, now: number): void;
  /** True when we hold a relay allocation: relayed candidates are also dialed from it. */
  relayReady(): boolean;
  /** True while many-port probing toward `peer` runs (a direct path may yet open). */
  probing(peer: Peer): boolean;
  /** Why our relay holds no allocation, when every configured relay failed (core/relay.ts). */
  relayFailure(): string | undefined;
}

/** How a peer's unreachable reason names our failed relay. */
const RELAY_FAILED = '; our relay failed (';

/**
 * Dialing, in one place: when to send INITs where (the peer's DialPlan),
 * what the peer's state says while we try, and why we gave up.
 */
export class Dialer {
  constructor(private readonly deps: DialerDeps) {}

  /** Starts (or restarts) dialing now: a user command, an introduction, a probe hit. */
  start(peer: Peer, now: number): void {
    peer.dialing.restart();
    if (peer.state.kind !== 'connecting' && !peer.connected)
      peer.transition({ kind: 'connecting', since: now, attempt: 0 });
    this.dial(peer, now);
  }

  /** A session the peer closed: dial again, slowly if it refused us. */
  retry(peer: Peer, now: number, refused: boolean): void {
    if (!peer.dialing.hasGiven) return;
    peer.dialing.restart();
    if (refused) peer.dialing.postpone(now, DIAL_RETRY);
    else peer.dialing.schedule(now, DIAL_BACKOFF[0]!);
    this.deps.touched(peer);
  }

  /** One attempt: an INIT to every address in the plan (learned ones within the node-wide budget). */
  dial(peer: Peer, now: number): void {
    const plan = peer.dialing;
    if (peer.connected) {
      plan.stop();
      return;
    }
    if (plan.exhausted) {
      plan.stop();
      if (peer.state.kind === 'connecting') this.giveUp(peer, now);
      return;
    }
    // Many-port probing may start here; while it runs, relayed candidates
    // wait with their tries kept: a relayed session would mark the peer
    // connected and end the probing that finds the direct path (the NAT
    // lab: symmetric <-> port-restricted by invite stayed relayed 10/10).
    // The relay is the last resort, dialed once probing has failed.
    this.deps.beforeDial(peer, now);
    const { given, learned, relayed } = plan.take(now, !this.deps.probing(peer));
    if (peer.state.kind === 'connecting')
      peer.transition({ kind: 'connecting', since: peer.state.since, attempt: plan.attempt });
    if (plan.attempt === ATTEMPTS_BEFORE_UNREACHABLE && given.length > 0) this.slow(peer, now);
    for (const to of given) {
      if (this.thirdParty(plan, to) && !this.deps.policy.spendLearnedDial(now)) continue;
      this.deps.permit(to, now);
      this.deps.handshakes.sendInit(peer, to, now);
    }
    for (const to of learned) {
      if (!this.deps.policy.spendLearnedDial(now)) continue;
      this.deps.permit(to, now);
      this.deps.handshakes.sendInit(peer, to, now);
    }
    // A relayed candidate, from our socket (the peer permitted our IP) and
    // from our own allocation (on the same relay, the relay's IP is permitted).
    for (const to of relayed) {
      if (this.thirdParty(plan, to) && !this.deps.policy.spendLearnedDial(now)) continue;
      this.deps.handshakes.sendInit(peer, to, now);
      if (this.deps.relayReady()) this.deps.handshakes.sendInit(peer, viaRelay(to), now);
    }
    this.deps.touched(peer);
  }

  /** A discovery record, not the user, named `to` (nat/introductions.ts withFound). */
  private thirdParty(plan: Peer['dialing'], to: Addr): boolean {
    return plan.isFound(to) || this.deps.policy.isPendingFound(to);
  }

  /** Our own key answered at `from`: drop that address; if none is left, say so. */
  selfAnswered(peer: Peer, from: Addr, now: number): void {
    peer.dialing.remove(from);
    if (!peer.dialing.exhausted || peer.connected) return;
    peer.dialing.stop();
    peer.transition({
      kind: 'unreachable',
      since: now,
      reason: 'that address is this node itself',
    });
    this.deps.emit({
      type: 'error',
      code: 'self-connect',
      message: `${addrKey(from)} is this node itself`,
      address: from,
    });
  }

  /**
   * A different key answered where `peer` (pinned) was dialed: refused
   * before anything is pinned. Dialing goes on at its slow pace, so the
   * real peer is found once it answers there again.
   */
  keyMismatch(peer: Peer, got: Buffer, from: Addr, now: number): void {
    const expected = peer.key!;
    // The backoff's next quick attempt would meet the same key: ask again only
    // every DIAL_RETRY (each attempt shows the other side a refused session).
    peer.dialing.postpone(now, DIAL_RETRY);
    if (peer.state.kind === 'key-mismatch' && peer.state.got === fingerprint(got)) return;
    peer.transition({
      kind: 'key-mismatch',
      since: now,
      expected: fingerprint(expected),
      got: fingerprint(got),
    });
    this.deps.emit({
      type: 'error',
      code: 'key-mismatch',
      message: `${peer.nick} at ${addrKey(from)} answered with key ${fingerprint(got)}, but ${peer.nick} is pinned to ${fingerprint(expected)}: refused. Compare fingerprints with them, then trust the new key explicitly if it is really them.`,
      nick: peer.nick,
      address: from,
    });
  }

  /** Given addresses that stay silent: shown unreachable, still tried every DIAL_RETRY. */
  private slow(peer: Peer, now: number): void {
    if (peer.state.kind !== 'connecting') return;
    const natWhy = this.deps.natFailure(peer);
    const symmetric = this.deps.ourMapping() === 'endpoint-dependent';
    const reason = natWhy
      ? `no answer from any address; ${natWhy}`
      : symmetric
        ? 'no answer from any address; this node is behind a symmetric NAT (STUN), so the other side must be reachable or a relay is needed'
        : 'no answer from any address';
    peer.transition({ kind: 'unreachable', since: now, reason: this.withRelay(reason) });
    this.deps.emit({
      type: 'error',
      code: 'unreachable',
      message: `${peer.nick}: no answer from ${peer.dialing.givenAddrs.map(addrKey).join(', ')}; still trying every ${DIAL_RETRY / 1000} s`,
      nick: peer.nick,
    });
  }

  /** Learned candidates only, all spent: stop, and say why. */
  private giveUp(peer: Peer, now: number): void {
    const by = `introduced by ${peer.introducedBy ?? 'a peer'}`;
    const natWhy = this.deps.natFailure(peer);
    const reason = natWhy
      ? `no answer from any candidate (${by}); ${natWhy}`
      : this.deps.ourMapping() === 'endpoint-dependent'
        ? `no answer from any candidate (${by}); this node is behind a symmetric NAT (STUN): a relay is needed`
        : `no answer from any candidate (${by}); both sides may be behind NATs that need a relay`;
    peer.transition({ kind: 'unreachable', since: now, reason: this.withRelay(reason) });
  }

  /**
   * Our relay just failed: a peer already shown unreachable says so too
   * (its state was set before the relay gave up, e.g. 39.5 s of silence).
   */
  relayFailed(peer: Peer, now: number): void {
    const s = peer.state;
    if (s.kind !== 'unreachable' || peer.connected) return;
    const base = s.reason.split(RELAY_FAILED)[0]!;
    const reason = this.withRelay(base);
    if (reason !== s.reason) peer.transition({ kind: 'unreachable', since: now, reason });
  }

  /**
   * A relay was configured and failed (refused, wrong credentials, no
   * answer): the peer's state says so, since the relay was the way to the
   * peers no direct path reaches (issue 17 item 8).
   */
  private withRelay(reason: string): string {
    const failed = this.deps.relayFailure();
    return failed ? `${reason}${RELAY_FAILED}${failed})` : reason;
  }
}
