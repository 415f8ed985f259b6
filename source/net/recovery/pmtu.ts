/**
 * Datagram packetization-layer path MTU discovery (DPLPMTUD, RFC 8899), the
 * way QUIC does it (RFC 9000 §14.3): start at a size every path carries,
 * send padded probe packets of a larger size, and use a size once a probe of
 * it is acknowledged. Probes are ordinary ack-eliciting DATA packets (a PING
 * padded with PADDING frames), so no ICMP is needed — and Node cannot read
 * ICMP "packet too big" messages or set the don't-fragment bit anyway.
 *
 * Sans I/O: the session asks `probeSize(now)` when it may send, reports
 * acknowledgement or loss of the probe, and packs data up to `size`.
 */
import { BASE_PLPMTU } from '../wire/packet.js';

/** RFC 8899 §5.1.2 BASE_PLPMTU, defined with the wire format (1200, see there). Sessions start here. */
export { BASE_PLPMTU };
/**
 * The largest size we search up to: a 1500-byte Ethernet MTU less the IPv6
 * (40) and UDP (8) headers, so one figure fits IPv4 and IPv6. Larger sizes
 * would only pay on loopback or jumbo-frame networks, and without the
 * don't-fragment bit (which `dgram` cannot set) a probe above a link's MTU
 * may arrive in IP fragments and succeed anyway, so we do not go there.
 */
export const MAX_PLPMTU = 1452;
/** A ceiling for the search that a session (and the user) may choose. */
export function isValidMaxDatagram(size: number): boolean {
  return Number.isInteger(size) && size >= BASE_PLPMTU && size <= MAX_PLPMTU;
}
/** RFC 8899 §5.1.2 MAX_PROBES: a size is given up after this many lost probes. */
const MAX_PROBES = 3;
/** The search stops once the bounds are this close (RFC 8899 §5.3.2 leaves the step open). */
const SEARCH_RESOLUTION = 16;
/** RFC 8899 §5.1.1 PMTU_RAISE_TIMER: after a search that ended below the maximum, look again. */
export const PMTU_RAISE_TIMER = 600_000;
/**
 * Black-hole detection (RFC 8899 §4.3): this many PTOs in a row while using
 * a size above the base means full-size packets may be vanishing, so we fall
 * back to the base size, which the PTO's next probes then use.
 */
export const BLACK_HOLE_PTOS = 2;
/** The search resumes this long after a fall-back, doubling each time up to the raise timer. */
const BLACK_HOLE_RETRY = 1_000;

type SearchState =
  /** Nothing to find: we use the maximum already (or the maximum is the base). */
  | { kind: 'complete' }
  /** A search ended below the maximum, or a black hole was suspected: search again later. */
  | { kind: 'waiting'; until: number }
  /** `lo` is confirmed, sizes above `hi` are known not to pass; `probe` is being tried. */
  | {
      kind: 'searching';
      lo: number;
      hi: number;
      probe: number;
      failures: number;
      inFlight: boolean;
    };

export class PathMtu {
  readonly max: number;
  #size = BASE_PLPMTU;
  #state: SearchState;
  #blackHoles = 0;

  /** `max` is the largest datagram this session may use; BASE_PLPMTU disables the search. */
  constructor(max: number = MAX_PLPMTU) {
    if (!isValidMaxDatagram(max)) {
      throw new RangeError(
        `max datagram size must be an integer in [${BASE_PLPMTU}, ${MAX_PLPMTU}]`,
      );
    }
    this.max = max;
    this.#state = this.#search(BASE_PLPMTU);
  }

  /** The datagram size to pack data into: the largest one confirmed on this path. */
  get size(): number {
    return this.#size;
  }

  /** Fall-backs to the base size on this path (they lengthen the wait before the next search). */
  get blackHoles(): number {
    return this.#blackHoles;
  }

  get state(): SearchState['kind'] {
    return this.#state.kind;
  }

  /** The size of a probe to send now, or undefined (none due, or one is in flight). */
  probeSize(now: number): number | undefined {
    const st = this.#state;
    if (st.kind === 'waiting' && now >= st.until) this.#state = this.#search(this.#size);
    const cur = this.#state;
    if (cur.kind !== 'searching' || cur.inFlight) return undefined;
    return cur.probe;
  }

  onProbeSent(size: number): void {
    const st = this.#state;
    if (st.kind === 'searching' && st.probe === size) st.inFlight = true;
  }

  /** A probe of `size` was acknowledged: the path carries it. */
  onProbeAcked(size: number, now: number): void {
    const st = this.#state;
    // A late ack of a size already settled (or from before a fall-back) changes nothing.
    if (st.kind !== 'searching' || size <= st.lo || size > st.hi) return;
    this.#size = size;
    st.lo = size;
    this.#next(st, now);
  }

  /** A probe of `size` was declared lost (not a congestion signal: RFC 9000 §14.4). */
  onProbeLost(size: number, now: number): void {
    const st = this.#state;
    if (st.kind !== 'searching' || st.probe !== size) return;
    st.inFlight = false;
    if (++st.failures < MAX_PROBES) return;
    st.hi = size - 1;
    this.#next(st, now);
  }

  /**
   * The session's PTO fired for the `ptoCount`-th time in a row. Returns true
   * when that made us fall back to the base size (a suspected black hole).
   */
  onPto(ptoCount: number, now: number): boolean {
    if (ptoCount < BLACK_HOLE_PTOS || this.#size <= BASE_PLPMTU) return false;
    this.#size = BASE_PLPMTU;
    const wait = Math.min(BLACK_HOLE_RETRY * 2 ** this.#blackHoles, PMTU_RAISE_TIMER);
    this.#blackHoles++;
    this.#state = { kind: 'waiting', until: now + wait };
    return true;
  }

  /** A new path (RFC 9000 §9.4): what we learned about the old one does not apply. */
  reset(): void {
    this.#size = BASE_PLPMTU;
    this.#blackHoles = 0;
    this.#state = this.#search(BASE_PLPMTU);
  }

  #search(lo: number): SearchState {
    if (lo >= this.max) return { kind: 'complete' };
    // The maximum first: on most paths it passes, and the search is one probe.
    return { kind: 'searching', lo, hi: this.max, probe: this.max, failures: 0, inFlight: false };
  }

  #next(st: Extract<SearchState, { kind: 'searching' }>, now: number): void {
    if (st.lo >= this.max) {
      this.#state = { kind: 'complete' };
      return;
    }
    if (st.hi - st.lo < SEARCH_RESOLUTION) {
      this.#state = { kind: 'waiting', until: now + PMTU_RAISE_TIMER };
      return;
    }
    st.probe = st.lo + Math.ceil((st.hi - st.lo) / 2);
    st.failures = 0;
    st.inFlight = false;
  }
}
