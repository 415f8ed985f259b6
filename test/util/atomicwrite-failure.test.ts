import type * as realFs from 'node:fs/promises';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../source/net/core/errors.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { TrustStore } from '../../source/net/store/truststore.js';
import { writeFileAtomic } from '../../source/util/atomicwrite.js';

/**
 * A disk that fills up: while `failWrites` is set, writing through a file
 * handle opened by the code under test fails with ENOSPC after the file was
 * created (the worst moment: a temp file exists, half written).
 */
let failWrites = false;
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof realFs>();
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    if (!failWrites) return handle;
    handle.writeFile = async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    return handle;
  };
  return { ...real, open };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-atomic-fail-'));
  failWrites = false;
});
afterEach(async () => {
  failWrites = false;
  await rm(dir, { recursive: true, force: true });
});

describe('a write that fails', () => {
  it('leaves the old file whole and no temp file behind', async () => {
    const path = join(dir, 'file.json');
    await writeFile(path, 'old');
    failWrites = true;
    await expect(writeFileAtomic(path, 'new')).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['file.json']);
    // The lane is free again: the next write goes through.
    failWrites = false;
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
  });

  it('fails every caller coalesced into it', async () => {
    const path = join(dir, 'file.json');
    await writeFile(path, 'old');
    failWrites = true;
    const all = await Promise.allSettled([1, 2, 3].map((i) => writeFileAtomic(path, `v${i}`)));
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await readFile(path, 'utf8')).toBe('old');
  });

  it('trust store: the save is a UsageError naming the file, which keeps its old pins', async () => {
    const path = join(dir, 'trust.json');
    const store = await TrustStore.load(path);
    const key = generateIdentity().publicKey;
    await store.set('bob', key);
    const before = await readFile(path, 'utf8');
    failWrites = true;
    const err = await store.set('carol', generateIdentity().publicKey).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toContain(path);
    expect(String(err)).toMatch(/ENOSPC/);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['trust.json']);
  });
});
