import { isIP } from 'node:net';
import { UsageError } from '../core/errors.js';

/**
 * TURN relays as the user names them: RFC 7065 URIs, the shape of WebRTC's
 * `RTCIceServer` (`urls`, `username`, `credential`).
 *
 *   turnURI   = scheme ":" host [ ":" port ] [ "?transport=" transport ]
 *   scheme    = "turn" / "turns"      (default port 3478 / 5349, §3)
 *   transport = "udp" / "tcp"
 *
 * Only `turn:` over UDP is spoken so far (TCP and TLS to the relay are
 * issue 17 item 2): the others parse, and are refused with that reason.
 */
export interface RelayOption {
  /** One or more `turn:` URIs for the same relay; the first usable one is used. */
  urls: string | readonly string[];
  username: string;
  /** The password (long-term credential, RFC 8489 §9.2); never logged. */
  credential: string;
}

export interface TurnUri {
  secure: boolean;
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
}

const DEFAULT_PORT = 3478;
const DEFAULT_SECURE_PORT = 5349;

/** Parses one RFC 7065 URI; throws UsageError with the reason. */
export function parseTurnUri(text: string): TurnUri {
  const m = /^(turns?):(\[[^\]]*\]|[^:?[\]]+)(?::(\d{1,5}))?(?:\?(.*))?$/i.exec(text.trim());
  if (!m)
    throw new UsageError(`bad relay URI "${text}": expected turn:host[:port][?transport=udp]`);
  const secure = m[1]!.toLowerCase() === 'turns';
  let host = m[2]!;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6)
      throw new UsageError(`bad relay URI "${text}": "${host}" is not an IPv6 address`);
  } else if (!/^[A-Za-z0-9.-]+$/.test(host) || isIP(host) === 6) {
    throw new UsageError(`bad relay URI "${text}": bad host "${host}"`);
  }
  const port = m[3] === undefined ? (secure ? DEFAULT_SECURE_PORT : DEFAULT_PORT) : Number(m[3]);
  if (port < 1 || port > 65535)
    throw new UsageError(`bad relay URI "${text}": port must be 1-65535`);
  let transport: 'udp' | 'tcp' = secure ? 'tcp' : 'udp';
  if (m[4] !== undefined) {
    const t = /^transport=(udp|tcp)$/i.exec(m[4]);
    if (!t)
      throw new UsageError(`bad relay URI "${text}": the only parameter is transport=udp|tcp`);
    transport = t[1]!.toLowerCase() as 'udp' | 'tcp';
  }
  if (secure && transport === 'udp')
    throw new UsageError(
      `bad relay URI "${text}": turns: runs over TLS, so over TCP (RFC 7065 §3)`,
    );
  return { secure, host, port, transport };
}

/** A checked relay: the URI we will use, and its credentials. */
export interface ParsedRelay {
  uri: TurnUri;
  username: string;
  password: string;
}

/**
 * Checks every relay option (throws UsageError), before the socket opens.
 * Each relay's first `turn:` UDP URI is the one used; a relay with none is
 * refused, saying why.
 */
export function parseRelays(relays: readonly RelayOption[]): ParsedRelay[] {
  if (!Array.isArray(relays))
    throw new UsageError('relays must be an array of { urls, username, credential }');
  return relays.map((r, i) => {
    if (typeof r !== 'object' || r === null)
      throw new UsageError(`relays[${i}] must be { urls, username, credential }`);
    if (typeof r.username !== 'string' || r.username === '')
      throw new UsageError(`relays[${i}]: a username is needed (TURN long-term credentials)`);
    if (typeof r.credential !== 'string' || r.credential === '')
      throw new UsageError(`relays[${i}]: a credential (password) is needed`);
    const urls = typeof r.urls === 'string' ? [r.urls] : r.urls;
    if (!Array.isArray(urls) || urls.length === 0)
      throw new UsageError(`relays[${i}]: urls must be a turn: URI or a list of them`);
    const parsed = urls.map((u) => {
      if (typeof u !== 'string') throw new UsageError(`relays[${i}]: a URI must be a string`);
      return parseTurnUri(u);
    });
    const udp = parsed.find((u) => !u.secure && u.transport === 'udp');
    if (!udp)
      throw new UsageError(
        `relays[${i}]: only turn: over UDP is supported so far (TCP and TLS to the relay are not yet)`,
      );
    return { uri: udp, username: r.username, password: r.credential };
  });
}
