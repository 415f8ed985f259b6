import { isAbsolute, join, resolve } from 'node:path';
import { quoteForDisplay } from '../chat/sanitize.js';
import { UsageError } from '../index.js';

/**
 * Where the chat keeps its identity key and trust store:
 *
 *   $SRMUDP_HOME                                   if set (the whole data directory)
 *   <base>/srmudp-tui/<profile>                    otherwise, where <base> is
 *     %APPDATA%                                    on Windows,
 *     $XDG_CONFIG_HOME (if absolute) or ~/.config  elsewhere
 *
 * `profile` defaults to "default"; different profiles are different identities.
 */

export const DEFAULT_PROFILE = 'default';
export const APP_DIR = 'srmudp-tui';

const PROFILE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function validateProfile(name: string): string {
  if (!PROFILE_PATTERN.test(name) || name === '.' || name === '..') {
    throw new UsageError(
      `bad profile name ${quoteForDisplay(name)}: use 1-64 letters, digits, "_", "." or "-"`,
    );
  }
  return name;
}

export interface DataDirOptions {
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
  home: string;
  profile?: string | undefined;
}

export function resolveDataDir(opts: DataDirOptions): string {
  const override = opts.env.SRMUDP_HOME;
  if (override !== undefined && override !== '') return resolve(override);
  const profile = validateProfile(opts.profile ?? DEFAULT_PROFILE);
  let base: string;
  if (opts.platform === 'win32') {
    const appData = opts.env.APPDATA;
    base = appData ? appData : join(opts.home, 'AppData', 'Roaming');
  } else {
    const xdg = opts.env.XDG_CONFIG_HOME;
    base = xdg && isAbsolute(xdg) ? xdg : join(opts.home, '.config');
  }
  return join(base, APP_DIR, profile);
}

export interface DataPaths {
  dir: string;
  identity: string;
  trust: string;
  /** Known peers (conf store), reconnected at start. */
  known: string;
  /** The profile's settings (relay credentials: relayconfig.ts); read, never written. */
  config: string;
}

export function dataPaths(dir: string): DataPaths {
  return {
    dir,
    identity: join(dir, 'identity.json'),
    trust: join(dir, 'trust.json'),
    known: join(dir, 'known-peers.json'),
    config: join(dir, 'config.json'),
  };
}
