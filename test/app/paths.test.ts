import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataPaths, resolveDataDir, validateProfile } from '../../source/app/paths.js';
import { UsageError } from '../../source/net/core/errors.js';

describe('data directory', () => {
  const home = '/home/u';

  it('SRMUDP_HOME overrides everything', () => {
    expect(
      resolveDataDir({
        env: { SRMUDP_HOME: '/tmp/x', XDG_CONFIG_HOME: '/c' },
        platform: 'linux',
        home,
      }),
    ).toBe('/tmp/x');
  });

  it('uses $XDG_CONFIG_HOME or ~/.config on Linux and macOS', () => {
    expect(resolveDataDir({ env: { XDG_CONFIG_HOME: '/c' }, platform: 'linux', home })).toBe(
      join('/c', 'srmudp-tui', 'default'),
    );
    expect(resolveDataDir({ env: {}, platform: 'darwin', home, profile: 'work' })).toBe(
      join(home, '.config', 'srmudp-tui', 'work'),
    );
    // A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    expect(resolveDataDir({ env: { XDG_CONFIG_HOME: 'rel' }, platform: 'linux', home })).toBe(
      join(home, '.config', 'srmudp-tui', 'default'),
    );
  });

  it('uses %APPDATA% on Windows', () => {
    expect(resolveDataDir({ env: { APPDATA: '/appdata' }, platform: 'win32', home })).toBe(
      join('/appdata', 'srmudp-tui', 'default'),
    );
    expect(resolveDataDir({ env: {}, platform: 'win32', home })).toBe(
      join(home, 'AppData', 'Roaming', 'srmudp-tui', 'default'),
    );
  });

  it('puts the identity and trust store in it', () => {
    expect(dataPaths('/d')).toEqual({
      dir: '/d',
      identity: join('/d', 'identity.json'),
      trust: join('/d', 'trust.json'),
      known: join('/d', 'known-peers.json'),
      config: join('/d', 'config.json'),
    });
  });

  it('refuses profile names that are not plain file names', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'x'.repeat(65), 'a b', 'a\u0000']) {
      expect(() => validateProfile(bad)).toThrow(UsageError);
    }
    expect(validateProfile('work-2.old_x')).toBe('work-2.old_x');
  });
});
