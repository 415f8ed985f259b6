import { isIP } from 'node:net';
import type { Addr } from '../core/address.js';
import { ipToBytes } from '../wire/ip.js';

/**
 * Where an address sits, for deciding whether a third party may make us
 * send there. An introduction (or, later, a DHT record) names addresses we
 * never chose; RFC 9000 §21.5 (request forgery) warns against letting a
 * peer aim our packets at hosts we could not otherwise reach.
 */
export type IpScope =
  | 'unspecified'
  | 'loopback'
  | 'multicast'
  | 'broadcast'
  | 'link-local'
  /** RFC 1918, RFC 6598 (100.64.0.0/10, carrier-grade NAT), fc00::/7. */
  | 'private'
  | 'global';

/** The private range an address is in (a label), for "same range" checks. */
export function privateRange(address: string): string | undefined {
  const v4 = ipv4(address);
  if (v4 !== undefined) {
    if (v4 >>> 24 === 10) return '10/8';
    if (v4 >>> 20 === (172 << 4) + 1) return '172.16/12';
    if (v4 >>> 16 === (192 << 8) + 168) return '192.168/16';
    if (v4 >>> 22 === (100 << 2) + 1) return '100.64/10';
    return undefined;
  }
  if (isIP(address) === 6 && /^f[cd]/i.test(address)) return 'fc00::/7';
  return undefined;
}

export function ipScope(address: string): IpScope {
  const v4 = ipv4(address);
  if (v4 !== undefined) {
    const a = v4 >>> 24;
    if (v4 === 0 || a === 0) return 'unspecified';
    if (a === 127) return 'loopback';
    if (a >= 224 && a <= 239) return 'multicast';
    if (v4 === 0xffffffff) return 'broadcast';
    // 240.0.0.0/4 is reserved and never routed; treat it like broadcast.
    if (a >= 240) return 'broadcast';
    if (v4 >>> 16 === (169 << 8) + 254) return 'link-local';
    return privateRange(address) ? 'private' : 'global';
  }
  const lower = address.toLowerCase();
  if (lower === '::') return 'unspecified';
  if (lower === '::1') return 'loopback';
  if (lower.startsWith('ff')) return 'multicast';
  if (/^fe[89ab]/.test(lower)) return 'link-local';
  return privateRange(lower) ? 'private' : 'global';
}

/** What we know of our own position, to judge third-party targets against. */
export interface LocalView {
  /** Addresses of this host (bound address, interface addresses). */
  readonly addresses: readonly string[];
}

/**
 * May a third party (an introducer at `via`) make us dial `target`?
 * Never multicast, broadcast, unspecified or link-local, nor port 0.
 * Loopback only when the introducer itself reaches us over loopback or we
 * are bound to it; a private range only when we have an address in it or
 * the introducer is in it (then the target may really be on our network).
 */
export function thirdPartyTargetAllowed(
  target: Addr,
  via: Addr | undefined,
  local: LocalView,
): boolean {
  if (target.port === 0) return false;
  const scope = ipScope(target.address);
  switch (scope) {
    case 'global':
      return true;
    case 'loopback':
      return (
        (via !== undefined && ipScope(via.address) === 'loopback') ||
        local.addresses.some((a) => ipScope(a) === 'loopback')
      );
    case 'private': {
      const range = privateRange(target.address);
      return (
        (via !== undefined && privateRange(via.address) === range) ||
        local.addresses.some((a) => privateRange(a) === range)
      );
    }
    default:
      return false;
  }
}

/** An IPv4 literal as a 32-bit number (the one IP codec, wire/ip.ts); undefined for anything else. */
function ipv4(address: string): number | undefined {
  if (isIP(address) !== 4) return undefined;
  return ipToBytes(address).readUInt32BE(0);
}
