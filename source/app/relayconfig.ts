import { readFileSync } from 'node:fs';
import type { RelayOption } from '../index.js';

/**
 * The relay's credentials. The user name may be a flag (`--relay-user`), the
 * password never: `ps` and shell history would show it to everyone on the
 * machine. It comes from $SRMUDP_RELAY_PASSWORD, else from the profile's
 * config file (`<data dir>/config.json`, kept 0600 by its owner):
 *
 *   { "relay": { "user": "1767225600:alice", "password": "base64..." } }
 *
 * With coturn's `use-auth-secret` both are the time-limited pair the
 * operator issued (readme, "Run a relay for friends"); to us they are
 * ordinary long-term credentials (RFC 8489 §9.2).
 */

export interface RelayConfig {
  user?: string | undefined;
  password?: string | undefined;
}

/** The `relay` section of the config file; a missing file is none, a malformed one an error line. */
export function readRelayConfig(path: string): RelayConfig | string {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return `cannot read ${path}: ${(err as Error).message}`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return `malformed config file ${path}: not JSON`;
  }
  const relay = (parsed as { relay?: unknown } | null)?.relay;
  if (relay === undefined) return {};
  if (typeof relay !== 'object' || relay === null || Array.isArray(relay))
    return `malformed config file ${path}: "relay" must be an object { "user", "password" }`;
  const r = relay as Record<string, unknown>;
  for (const k of ['user', 'password'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'string')
      return `malformed config file ${path}: "relay.${k}" must be a string`;
  }
  return { user: r.user as string | undefined, password: r.password as string | undefined };
}

/**
 * bind's `relays` for the `--relay` URIs, or the one-line problem: a relay
 * needs a user and a password (coturn refuses an Allocate without them, and
 * we would only find out at the first 401).
 */
export function relayOptions(
  uris: readonly string[],
  flagUser: string | undefined,
  env: { SRMUDP_RELAY_PASSWORD?: string | undefined },
  config: () => RelayConfig | string,
  configPath: string,
): RelayOption[] | string {
  if (uris.length === 0) return [];
  const fromEnv = env.SRMUDP_RELAY_PASSWORD;
  const needFile = flagUser === undefined || fromEnv === undefined || fromEnv === '';
  const file = needFile ? config() : {};
  if (typeof file === 'string') return file;
  const username = flagUser ?? file.user;
  if (username === undefined || username === '')
    return `--relay needs a user: --relay-user NAME, or "relay": { "user" } in ${configPath}`;
  const credential = fromEnv !== undefined && fromEnv !== '' ? fromEnv : file.password;
  if (credential === undefined || credential === '')
    return `--relay needs a password: set SRMUDP_RELAY_PASSWORD, or "relay": { "password" } in ${configPath} (never a flag: ps and shell history would show it)`;
  // One relay option per URI: the library allocates on the one that answers first.
  return uris.map((urls) => ({ urls, username, credential }));
}
