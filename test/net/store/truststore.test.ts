import {
  lstat,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
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
    ['null', 'null', /not a JSON object/],
    ['a number', '5', /not a JSON object/],
    ['null pins', '{"type":"srmudp-trust","version":1,"pins":null}', /"pins" is not an object/],
    ['string pins', '{"type":"srmudp-trust","version":1,"pins":"bob"}', /"pins" is not an object/],
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

  it('forgets a pin on disk; forgetting an unknown name writes nothing', async () => {
    const path = join(dir, 'trust.json');
    const store = await TrustStore.load(path);
    await store.delete('nobody');
    expect(await readdir(dir)).toEqual([]);
    const key = generateIdentity().publicKey;
    await store.set('bob', key);
    await store.set('carol', key);
    await store.delete('bob');
    expect(store.get('bob')).toBeUndefined();
    const again = await TrustStore.load(path);
    expect(again.entries().map(([nick]) => nick)).toEqual(['carol']);
  });

  it('a memory store keeps pins and never touches the disk', async () => {
    const store = TrustStore.memory();
    expect(store.path).toBeUndefined();
    const key = generateIdentity().publicKey;
    await store.set('bob', key);
    expect(store.get('bob')?.equals(key)).toBe(true);
    await store.delete('bob');
    expect(store.entries()).toEqual([]);
  });

  it('reports a failed save with the file and the error code', async () => {
    const path = join(dir, 'sub', 'trust.json');
    const store = await TrustStore.load(path);
    await writeFile(join(dir, 'sub'), 'a file where the directory should be');
    const err = await store.set('bob', generateIdentity().publicKey).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toMatch(new RegExp(`cannot save trust store ${path}: E[A-Z]+$`));
  });

  it('reports an unreadable path (a directory) clearly', async () => {
    const err = await TrustStore.load(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toMatch(/cannot read trust store/);
  });

  it('30 concurrent saves leave valid JSON holding every pin (the last state)', async () => {
    const path = join(dir, 'trust.json');
    const store = await TrustStore.load(path);
    const keys = Array.from({ length: 30 }, () => generateIdentity().publicKey);
    await Promise.all(keys.map((key, i) => store.set(`peer${i}`, key)));
    const again = await TrustStore.load(path);
    expect(again.entries()).toHaveLength(30);
    for (const [i, key] of keys.entries()) expect(again.get(`peer${i}`)?.equals(key)).toBe(true);
    expect(await readdir(dir)).toEqual(['trust.json']);
  });

  it('saves of two stores on one file apply in call order: the last one wins whole', async () => {
    const path = join(dir, 'trust.json');
    const a = await TrustStore.load(path);
    const b = await TrustStore.load(path);
    const ka = generateIdentity().publicKey;
    const kb = generateIdentity().publicKey;
    await Promise.all([a.set('alice', ka), b.set('bob', kb), a.set('carol', ka)]);
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json.pins).toEqual({ alice: fingerprint(ka), carol: fingerprint(ka) });
  });

  it.skipIf(process.platform === 'win32')(
    'never follows a symlink planted at the old predictable temp name; the file is 0600',
    async () => {
      const path = join(dir, 'trust.json');
      const victim = join(dir, 'victim');
      await writeFile(victim, 'precious');
      await symlink(victim, `${path}.${process.pid}.tmp`);
      const store = await TrustStore.load(path);
      await store.set('bob', generateIdentity().publicKey);
      expect(await readFile(victim, 'utf8')).toBe('precious');
      expect((await lstat(path)).isSymbolicLink()).toBe(false);
      expect(await readlink(`${path}.${process.pid}.tmp`)).toBe(victim);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    },
  );
});
