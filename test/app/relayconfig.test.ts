import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readRelayConfig, relayOptions } from '../../source/app/relayconfig.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function file(text: string | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-relaycfg-'));
  dirs.push(dir);
  const path = join(dir, 'config.json');
  if (text !== undefined) writeFileSync(path, text);
  return path;
}

describe('relayOptions', () => {
  const uri = ['turn:relay.example.org'];
  const none = () => ({});

  it('no --relay: no relays, and the config file is not even read', () => {
    let reads = 0;
    const read = () => {
      reads++;
      return {};
    };
    expect(relayOptions([], undefined, {}, read, 'cfg')).toEqual([]);
    expect(reads).toBe(0);
  });

  it('takes the password from the environment, the user from the flag', () => {
    expect(
      relayOptions(
        ['turn:a.example', 'turn:b.example:3479'],
        'bob',
        { SRMUDP_RELAY_PASSWORD: 'pw' },
        none,
        'cfg',
      ),
    ).toEqual([
      { urls: 'turn:a.example', username: 'bob', credential: 'pw' },
      { urls: 'turn:b.example:3479', username: 'bob', credential: 'pw' },
    ]);
  });

  it('falls back to the config file for either; the flag and the environment win', () => {
    const cfg = () => ({ user: '1767225600:bob', password: 'c2VjcmV0' });
    expect(relayOptions(uri, undefined, {}, cfg, 'cfg')).toEqual([
      { urls: uri[0], username: '1767225600:bob', credential: 'c2VjcmV0' },
    ]);
    expect(relayOptions(uri, 'carol', { SRMUDP_RELAY_PASSWORD: 'env' }, cfg, 'cfg')).toEqual([
      { urls: uri[0], username: 'carol', credential: 'env' },
    ]);
  });

  it('a relay without a user or a password is one clear line', () => {
    const noUser = relayOptions(
      uri,
      undefined,
      { SRMUDP_RELAY_PASSWORD: 'pw' },
      none,
      '/p/config.json',
    );
    expect(noUser).toMatch(/^--relay needs a user: --relay-user NAME, or .*\/p\/config\.json/);
    const noPw = relayOptions(uri, 'bob', {}, none, '/p/config.json');
    expect(noPw).toMatch(/^--relay needs a password: set SRMUDP_RELAY_PASSWORD/);
    expect(relayOptions(uri, 'bob', { SRMUDP_RELAY_PASSWORD: '' }, none, 'c')).toMatch(/password/);
    for (const r of [noUser, noPw]) expect(r as string).not.toContain('\n');
  });

  it('a malformed config file is its own error line', () => {
    expect(relayOptions(uri, 'bob', {}, () => 'malformed config file x: not JSON', 'x')).toBe(
      'malformed config file x: not JSON',
    );
  });
});

describe('readRelayConfig', () => {
  it('reads the relay section; a missing file or section is empty', () => {
    expect(readRelayConfig(file(undefined))).toEqual({});
    expect(readRelayConfig(file('{}'))).toEqual({});
    expect(readRelayConfig(file('{"relay":{"user":"u","password":"p"}}'))).toEqual({
      user: 'u',
      password: 'p',
    });
  });

  it('says what is wrong with a malformed file', () => {
    expect(readRelayConfig(file('{'))).toMatch(/not JSON/);
    expect(readRelayConfig(file('{"relay":[]}'))).toMatch(/"relay" must be an object/);
    expect(readRelayConfig(file('{"relay":{"password":1}}'))).toMatch(
      /"relay.password" must be a string/,
    );
  });
});
