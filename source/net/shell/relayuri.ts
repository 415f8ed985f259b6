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
 * `turn:` runs over UDP, falling back to TCP on the same host and port when
 * the Allocate gets no answer (networks that drop outbound UDP);
 * `?transport=tcp` goes straight to TCP, and `turns:` to TLS (RFC 8656
 * §12.5), verified against the system's CAs or pinned by
 * `certificateFingerprint`.
 */
export interface RelayOption {
  /** One or more `turn:` URIs for the same relay; the first usable one is used. */
  urls: string | readonly string[];
  username: string;
  /** The password (long-term credential, RFC 8489 §9.2); never logged. */
  credential: string;
  /**
   * For `turns:` to a self-hosted relay with a self-signed certificate: its
   * SHA-256 fingerprint (64 hex digits, colons allowed, as `openssl x509
   * -fingerprint -sha256` prints it). The certificate must match it, and
   * the system CAs are then not consulted.
   */
  certificateFingerprint?: string;
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
    throw new UsageError(
      `bad relay URI "${text}": expected turn:host[:port][?transport=udp|tcp] or turns:host[:port]`,
    );
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
  /** The certificate's SHA-256 (32 bytes) a `turns:` relay must present, when pinned. */
  pin: Buffer | undefined;
}

/** Reads a SHA-256 fingerprint as `openssl` or a browser prints it; throws UsageError. */
export function parseCertificatePin(text: string, where: string): Buffer {
  const hex = text.trim().replace(/:/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new UsageError(
      `${where}: certificateFingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed)`,
    );
  return Buffer.from(hex, 'hex');
}

/**
 * Checks every relay option (throws UsageError), before the socket opens.
 * Of a relay's URIs the first over UDP is used (the lowest latency, with
 * TCP as its fallback), else the first one.
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
    const uri = parsed.find((u) => u.transport === 'udp') ?? parsed[0]!;
    const fp = r.certificateFingerprint;
    if (fp !== undefined && typeof fp !== 'string')
      throw new UsageError(`relays[${i}]: certificateFingerprint must be a string`);
    const pin = fp === undefined ? undefined : parseCertificatePin(fp, `relays[${i}]`);
    if (pin && !uri.secure)
      throw new UsageError(`relays[${i}]: certificateFingerprint pins a turns: (TLS) relay only`);
    return { uri, username: r.username, password: r.credential, pin };
  });
}
