import { isIP } from 'node:net';
import { quoteForDisplay } from '../chat/sanitize.js';
import {
  BASE_PLPMTU,
  isValidMaxDatagram,
  MAX_PLPMTU,
  parseHostPort,
  parseTurnUri,
  validateNick,
} from '../index.js';
import { validateProfile } from './paths.js';

/**
 * Checks the command line beyond what meow parses, so every mistake becomes
 * one clear sentence (meow itself prints several lines for some and throws
 * for others). Pure.
 */

interface FlagSpec {
  short?: string;
  value: boolean;
}

export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  nick: { short: 'n', value: true },
  port: { short: 'p', value: true },
  host: { value: true },
  config: { short: 'c', value: true },
  profile: { value: true },
  verbose: { short: 'v', value: false },
  bell: { value: false },
  stun: { value: true },
  'max-datagram': { value: true },
  relay: { value: true },
  'relay-user': { value: true },
  'dht-bootstrap': { value: true },
  // Booleans, for their --no- forms: the chat turns both on by default.
  dht: { value: false },
  mdns: { value: false },
  help: { short: 'h', value: false },
  version: { value: false },
};

const isNegativeNumber = (s: string) => /^-\d+(\.\d+)?$/.test(s);

/** The first argument that looks like a flag we do not have, as typed. */
export function findUnknownFlag(argv: readonly string[]): string | undefined {
  const shorts = new Map(
    Object.entries(FLAGS)
      .filter(([, f]) => f.short !== undefined)
      .map(([name, f]) => [f.short!, { name, ...f }]),
  );
  for (const arg of argv) {
    if (arg === '--') return undefined;
    if (!arg.startsWith('-') || arg === '-' || isNegativeNumber(arg)) continue;
    if (arg.startsWith('--')) {
      const name = arg.slice(2).split('=')[0] ?? '';
      const negated = name.startsWith('no-') ? FLAGS[name.slice(3)] : undefined;
      if (FLAGS[name] === undefined && !(negated && !negated.value)) return `--${name}`;
      continue;
    }
    // -abc: a cluster of short flags; one that takes a value ends it (-p9000).
    for (const ch of arg.slice(1)) {
      const spec = shorts.get(ch);
      if (!spec) return `-${ch}`;
      if (spec.value) break;
    }
  }
  return undefined;
}

export interface RawFlags {
  nick?: string | undefined;
  port?: string | undefined;
  host?: string | undefined;
  config?: string | undefined;
  profile?: string | undefined;
  verbose?: boolean | undefined;
  bell?: boolean | undefined;
  stun?: string[] | undefined;
  maxDatagram?: string | undefined;
  relay?: string[] | undefined;
  relayUser?: string | undefined;
  dhtBootstrap?: string[] | undefined;
  /** false for --no-dht */
  dht?: boolean | undefined;
  /** false for --no-mdns */
  mdns?: boolean | undefined;
}

export interface CliOptions {
  nick: string;
  port: number;
  host: string | undefined;
  config: string | undefined;
  profile: string | undefined;
  verbose: boolean;
  /** --no-bell */
  noBell: boolean;
  /** STUN servers to ask for our public address (empty: none). */
  stun: string[];
  /** --max-datagram: path-MTU discovery's ceiling in bytes (undefined: the library's, 1452). */
  maxDatagram: number | undefined;
  /** TURN relays (RFC 7065 URIs); the password is never a flag (see relayconfig.ts). */
  relays: string[];
  relayUser: string | undefined;
  /** bind's `dht`: true = the public routers by name; an object = a private DHT. */
  dht: boolean | { bootstrap: string[] };
  /** bind's `mdns`. */
  mdns: boolean;
}

/** What the chat reads from the environment besides its flags. */
export interface CliEnv {
  SRMUDP_STUN?: string | undefined;
  SRMUDP_DHT?: string | undefined;
  SRMUDP_MDNS?: string | undefined;
}

/**
 * Well-known public STUN servers, by name (never hard-coded IP addresses).
 * The chat asks them by default; the library never does unless told.
 */
export const DEFAULT_STUN_SERVERS = ['stun.l.google.com:19302', 'stun.cloudflare.com:3478'];

/** --stun (repeatable, or `none`), else $SRMUDP_STUN (`none` or a comma list), else the defaults. */
function stunServers(
  flag: readonly string[] | undefined,
  env: string | undefined,
): string[] | string {
  const given =
    flag && flag.length > 0 ? [...flag] : env !== undefined ? env.split(',') : undefined;
  if (given === undefined) return [...DEFAULT_STUN_SERVERS];
  const list = given.map((x) => x.trim()).filter((x) => x !== '');
  if (list.includes('none'))
    return list.length === 1 ? [] : 'bad --stun: "none" cannot be combined with servers';
  for (const server of list) {
    try {
      parseHostPort(server);
    } catch {
      return `bad --stun ${quoteForDisplay(server)}: use host:port (e.g. stun.example.org:3478) or none`;
    }
  }
  return list;
}

/** Validated options, or the one-line problem. */
export function checkOptions(
  flags: RawFlags,
  input: readonly string[],
  env: CliEnv = {},
): CliOptions | string {
  const [extra] = input;
  if (extra !== undefined) {
    return `unexpected argument ${quoteForDisplay(String(extra))}: options start with - (see --help)`;
  }
  const nick = flags.nick;
  if (nick === undefined || nick === '') {
    return 'missing --nick: start with -n <your nick>, e.g. -n alice';
  }
  try {
    validateNick(nick);
  } catch {
    return `bad --nick ${quoteForDisplay(nick)}: use 1-32 letters, digits, "_", "." or "-" (no spaces)`;
  }
  let port = 0;
  if (flags.port !== undefined) {
    if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) > 65535) {
      return `bad --port ${quoteForDisplay(flags.port)}: use a number 0-65535 (0 picks a free port)`;
    }
    port = Number(flags.port);
  }
  if (flags.host !== undefined && isIP(flags.host) === 0) {
    return `bad --host ${quoteForDisplay(flags.host)}: give a local IP address such as 127.0.0.1, 0.0.0.0 or ::`;
  }
  if (flags.config !== undefined && flags.config === '') {
    return 'missing file after --config';
  }
  if (flags.profile !== undefined) {
    try {
      validateProfile(flags.profile);
    } catch (err) {
      return (err as Error).message.replace('bad profile name', 'bad --profile');
    }
  }
  const stun = stunServers(flags.stun, env.SRMUDP_STUN);
  if (typeof stun === 'string') return stun;
  let maxDatagram: number | undefined;
  if (flags.maxDatagram !== undefined) {
    maxDatagram = Number(flags.maxDatagram);
    if (!/^\d{4}$/.test(flags.maxDatagram) || !isValidMaxDatagram(maxDatagram)) {
      return `bad --max-datagram ${quoteForDisplay(flags.maxDatagram)}: use a number of bytes from ${BASE_PLPMTU} to ${MAX_PLPMTU} (${BASE_PLPMTU} turns path-MTU discovery off)`;
    }
  }
  const relay = relayFlags(flags);
  if (typeof relay === 'string') return relay;
  const discovery = discoveryFlags(flags, env);
  if (typeof discovery === 'string') return discovery;
  return {
    nick,
    port,
    stun,
    ...relay,
    ...discovery,
    host: flags.host,
    config: flags.config,
    profile: flags.profile,
    verbose: flags.verbose === true,
    noBell: flags.bell === false,
    maxDatagram,
  };
}

function relayFlags(flags: RawFlags): Pick<CliOptions, 'relays' | 'relayUser'> | string {
  const relays = (flags.relay ?? []).map((r) => r.trim());
  for (const uri of relays) {
    try {
      parseTurnUri(uri);
    } catch (err) {
      const why = (err as Error).message.replace(/^bad relay URI "[^"]*": /, '');
      return `bad --relay ${quoteForDisplay(uri)}: ${why}`;
    }
  }
  if (flags.relayUser !== undefined && relays.length === 0)
    return '--relay-user without --relay: name the relay too (--relay turn:HOST[:PORT])';
  if (flags.relayUser !== undefined && flags.relayUser.trim() === '')
    return 'missing name after --relay-user';
  return { relays, relayUser: flags.relayUser?.trim() };
}

const OFF = ['off', '0', 'false', 'no', 'none'];

/**
 * The chat finds peers by key by default (unlike the library): the
 * Mainline DHT through the public routers, by name, and mDNS on the LAN.
 * `SRMUDP_DHT=none` / `SRMUDP_MDNS=off` (every test process has them) turn
 * them off as the flags do; the library honours them too, this only makes
 * the chat's own report say so.
 */
function discoveryFlags(flags: RawFlags, env: CliEnv): Pick<CliOptions, 'dht' | 'mdns'> | string {
  const mdns = flags.mdns !== false && !OFF.includes((env.SRMUDP_MDNS ?? '').trim().toLowerCase());
  const bootstrap = (flags.dhtBootstrap ?? []).map((b) => b.trim());
  if (bootstrap.length > 0 && flags.dht === false)
    return '--dht-bootstrap and --no-dht contradict each other: give one';
  for (const node of bootstrap) {
    let host: string;
    try {
      host = parseHostPort(node).host;
    } catch {
      return `bad --dht-bootstrap ${quoteForDisplay(node)}: use host:port (e.g. 192.0.2.7:6881)`;
    }
    // BEP 5's compact node info is IPv4 only.
    if (isIP(host) === 6)
      return `bad --dht-bootstrap ${quoteForDisplay(node)}: the DHT is IPv4 only`;
  }
  // An explicit bootstrap list is the user's own choice: kept whatever $SRMUDP_DHT says.
  if (bootstrap.length > 0) return { dht: { bootstrap }, mdns };
  const envOff = (env.SRMUDP_DHT ?? '').trim().toLowerCase() === 'none';
  return { dht: flags.dht !== false && !envOff, mdns };
}
