import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import { fingerprint, generateIdentity } from '../../../source/net/crypto/identity.js';
import { TrustStore } from '../../../source/net/store/truststore.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-trust-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('trust store file', () => {
  it('round-trips pins and starts empty when the file does not exist', async () => {
    const path = join(dir, 'sub', 'trust.json');
    const store = await TrustStore.load(path);
    expect(store.entries()).toEqual([]);
    const key = generateIdentity().publicKey;
    await store.set('bob', key);
    const again = await TrustStore.load(path);
    expect(again.get('bob')?.equals(key)).toBe(true);
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json).toEqual({ type: 'srmudp-trust', version: 1, pins: { bob: fingerprint(key) } });
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{"type": "srmudp-trust",', /not JSON/],
    ['an array', '[]', /"type"/],
    ['wrong type', '{"type":"other","version":1,"pins":{}}', /"type" is not "srmudp-trust"/],
    ['newer version', '{"type":"srmudp-trust","version":2,"pins":{}}', /version 2.*newer/],
    [
      'pins not an object',
      '{"type":"srmudp-trust","version":1,"pins":[]}',
      /"pins" is not an object/,
    ],
    [
      'pin not a string',
      '{"type":"srmudp-trust","version":1,"pins":{"bob":5}}',
      /pin for "bob" is not a string/,
    ],
    [
      'pin not a fingerprint',
      '{"type":"srmudp-trust","version":1,"pins":{"bob":"xyz"}}',
      /pin for "bob" is not a fingerprint/,
    ],
    ['empty file', '', /not JSON/],
  ];
  for (const [what, body, message] of bad) {
    it(`refuses ${what}, naming the file, and leaves it unchanged`, async () => {
      const path = join(dir, 'trust.json');
      await writeFile(path, body);
      const err = await TrustStore.load(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect(String(err)).toContain(path);
      expect(String(err)).toMatch(message);
      expect(await readFile(path, 'utf8')).toBe(body);
    });
  }

  it('reports an unreadable path (a directory) clearly', async () => {
    const err = await TrustStore.load(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toMatch(/cannot read trust store/);
  });
});
