import { isIP } from 'node:net';
import { UsageError } from './errors.js';

/**
 * A UDP endpoint. `address` is always a normalised IP literal (see normalizeIp).
 * `relay` marks a path through our TURN allocation (core/relay.ts): datagrams
 * to it leave as TURN Send / ChannelData to the relay server, and datagrams
 * from it came out of the allocation. It is a different path from the same
 * IP and port reached directly, so keys and comparisons tell them apart.
 */
export interface Addr {
  address: string;
  port: number;
  relay?: true;
}

/** `a` reached through our relay allocation. */
export function viaRelay(a: Addr): Addr {
  return { address: a.address, port: a.port, relay: true };
}

/**
 * A socket bound to `::` reports IPv4 peers as `::ffff:a.b.c.d` (RFC 4291
 * §2.5.5.2); strip that so one peer never appears under two spellings: one
 * session, one address key, one scope check (nat/targets.ts) per peer. A zone
 * (`%eth0`) names one of our own interfaces: kept for a link-local address,
 * which cannot be reached without it (RFC 4007 §11), dropped elsewhere. It
 * never travels: the wire carries address bytes only (wire/ip.ts).
 */
export function normalizeIp(ip: string): string {
  const zoneAt = ip.indexOf('%');
  let lower = (zoneAt >= 0 ? ip.slice(0, zoneAt) : ip).toLowerCase();
  if (zoneAt >= 0 && /^fe[89ab]/.test(lower) && zoneAt < ip.length - 1) {
    return `${lower}${ip.slice(zoneAt)}`;
  }
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) lower = lower.slice(7);
  return lower;
}

export function addrKey(a: Addr): string {
  const key = a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return a.relay ? `relay:${key}` : key;
}

export function sameAddr(a: Addr, b: Addr): boolean {
  return a.port === b.port && a.address === b.address && a.relay === b.relay;
}

/** `host:port`, `[v6]:port` or `v6-literal` is not accepted without brackets. */
export function parseHostPort(text: string): { host: string; port: number } {
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') {
      throw new UsageError(`bad address "${text}": expected [ipv6]:port`);
    }
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    if (isIP(host) !== 6)
      throw new UsageError(`bad address "${text}": "${host}" is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon <= 0) throw new UsageError(`bad address "${text}": expected host:port`);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) {
      throw new UsageError(`bad address "${text}": write IPv6 addresses as [addr]:port`);
    }
    if (!/^[A-Za-z0-9.-]+$/.test(host))
      throw new UsageError(`bad address "${text}": bad host name`);
    // Digits and dots only is meant as IPv4 (no top-level domain is all
    // digits, RFC 3696 §2): a mistyped one is refused here, not sent to DNS.
    if (/^[\d.]+$/.test(host) && isIP(host) !== 4)
      throw new UsageError(`bad address "${text}": "${host}" is not an IPv4 address`);
  }
  if (!/^\d{1,5}$/.test(portText))
    throw new UsageError(`bad address "${text}": bad port "${portText}"`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new UsageError(`bad address "${text}": port must be 1-65535`);
  return { host, port };
}
