import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type Addr, normalizeIp, parseHostPort } from '../core/address.js';
import { UsageError } from '../core/errors.js';
import { ipScope } from '../nat/targets.js';

/**
 * Names and addresses: DNS for the hosts users give (only the families the
 * socket can reach), the literal-only lookup dgram sends through, and this
 * host's own addresses for introductions and invites.
 */

/** The address family a socket reaches: v6 dual-stack reaches v4 too. */
export interface SocketFamily {
  readonly family: 4 | 6;
  readonly dualStack: boolean;
}

/**
 * `host:port` to addresses this socket can send to. A literal is taken as
 * is; a name is looked up (every address of a usable family), and a name
 * with none is a UsageError that says why.
 */
export async function resolveHostPort(text: string, sock: SocketFamily): Promise<Addr[]> {
  const { host, port } = parseHostPort(text);
  if (isIP(host)) return [{ address: normalizeIp(host), port }];
  let results: { address: string; family: number }[];
  try {
    results = await lookup(host, {
      all: true,
      ...(sock.dualStack ? {} : { family: sock.family }),
    });
  } catch (err) {
    throw new UsageError(
      `cannot resolve "${host}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const addrs = results
    .filter((r) => sock.dualStack || r.family === sock.family)
    .map((r) => ({ address: normalizeIp(r.address), port }));
  if (addrs.length === 0) {
    throw new UsageError(
      `"${host}" has no IPv${sock.family} address for this IPv${sock.family} socket`,
    );
  }
  return addrs;
}

/**
 * dgram resolves every destination through `lookup`, and dns.lookup answers
 * even an IP literal a process.nextTick later. We only ever send to
 * literals: answering at once lets send() reach the kernel in the call,
 * without a tick and a closure per datagram.
 */
export function literalLookup(
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, options, callback);
}

/**
 * This host's addresses as the introduction policy needs them (nat/targets.ts):
 * the bound address, or every non-loopback interface address for a wildcard.
 */
export function hostAddresses(bound: string): string[] {
  if (bound !== '0.0.0.0' && bound !== '::') return [bound];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (!i.internal) out.push(normalizeIp(i.address));
  return out;
}

/**
 * Interface addresses a peer might reach us at (for an invite), at most 4:
 * others first, loopback last, since a peer elsewhere cannot use it.
 * Link-local IPv6 is left out: it needs a zone index the peer cannot know.
 */
export function localCandidates(port: number, includeV6: boolean): Addr[] {
  const all: Addr[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family === 'IPv6' && (!includeV6 || i.address.startsWith('fe80'))) continue;
      all.push({ address: normalizeIp(i.address), port });
    }
  }
  const loopback = (a: Addr) => ipScope(a.address) === 'loopback';
  return [...all.filter((a) => !loopback(a)), ...all.filter(loopback)].slice(0, 4);
}
