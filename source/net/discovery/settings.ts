import { isIP } from 'node:net';
import { parseHostPort } from '../core/address.js';
import { UsageError } from '../core/errors.js';

/**
 * How `bind({ dht, mdns })` and the environment decide what discovery runs.
 * Pure (the environment is passed in), so the rules are unit-tested:
 *
 * - `dht: true` means the well-known public routers, publishing on; an
 *   object names its own bootstrap (a private DHT) and may turn publishing
 *   off (look others up without announcing us).
 * - `SRMUDP_DHT=none` turns `dht: true` off, and `SRMUDP_DHT=h:p,h:p`
 *   replaces its routers, as `SRMUDP_STUN` does for STUN: so a test run
 *   can never reach the public routers by default. An explicit bootstrap
 *   list is the caller's own choice and is kept.
 * - `SRMUDP_MDNS=off` turns mDNS off whatever bind says (nothing multicasts
 *   on real interfaces in tests).
 */

export const PUBLIC_ROUTERS: readonly string[] = [
  'router.bittorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'router.utorrent.com:6881',
];

export interface DhtBindOptions {
  /** `host:port` of DHT nodes to join through (default: the public routers). */
  bootstrap?: string[];
  /** Publish our record under our key (default true); false only looks others up. */
  publish?: boolean;
}

export interface DiscoveryBindOptions {
  /** Mainline DHT (BEP 44): off by default, like STUN. */
  dht?: DhtBindOptions | boolean;
  /** mDNS / DNS-SD on the LAN: off by default. */
  mdns?: boolean;
}

export interface DiscoverySettings {
  dht: { bootstrap: string[]; publish: boolean } | undefined;
  mdns: boolean;
}

export interface DiscoveryEnv {
  SRMUDP_DHT?: string | undefined;
  SRMUDP_MDNS?: string | undefined;
}

export function discoverySettings(
  opts: DiscoveryBindOptions,
  env: DiscoveryEnv,
): DiscoverySettings {
  const mdnsOff = ['off', '0', 'false', 'no', 'none'].includes(
    (env.SRMUDP_MDNS ?? '').trim().toLowerCase(),
  );
  return { dht: dhtSettings(opts.dht, env.SRMUDP_DHT), mdns: opts.mdns === true && !mdnsOff };
}

function dhtSettings(
  dht: DhtBindOptions | boolean | undefined,
  env: string | undefined,
): DiscoverySettings['dht'] {
  if (dht === undefined || dht === false) return undefined;
  if (dht !== true && (typeof dht !== 'object' || dht === null))
    throw new UsageError('dht must be true, false or { bootstrap?, publish? }');
  const spec = dht === true ? {} : dht;
  if (spec.publish !== undefined && typeof spec.publish !== 'boolean')
    throw new UsageError('dht.publish must be a boolean');
  let bootstrap: string[];
  if (spec.bootstrap !== undefined) {
    if (!Array.isArray(spec.bootstrap) || spec.bootstrap.length === 0)
      throw new UsageError('dht.bootstrap must list at least one host:port');
    bootstrap = [...spec.bootstrap];
  } else {
    const fromEnv = (env ?? '').trim();
    if (fromEnv.toLowerCase() === 'none') return undefined;
    bootstrap = fromEnv
      ? fromEnv
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [...PUBLIC_ROUTERS];
  }
  for (const b of bootstrap) checkHostPort(b);
  return { bootstrap, publish: spec.publish ?? true };
}

function checkHostPort(text: unknown): void {
  if (typeof text !== 'string') throw new UsageError('a DHT bootstrap node must be "host:port"');
  const { host } = parseHostPort(text);
  // bittorrent-dht speaks BEP 5 over IPv4 only (compact node info is 6 bytes).
  if (isIP(host) === 6) throw new UsageError(`DHT bootstrap "${text}": IPv6 is not supported`);
}
