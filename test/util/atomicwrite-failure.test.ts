import type * as realFs from 'node:fs/promises';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../source/net/core/errors.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { TrustStore } from '../../source/net/store/truststore.js';
import { makeDirs, writeFileAtomic } from '../../source/util/atomicwrite.js';

/**
 * A disk that fills up: writing through a file handle opened by the code
 * under test on a path `failWrites` picks fails with ENOSPC after the file was
 * created (the worst moment: a file exists, half written).
 */
let failWrites: (path: string) => boolean = () => false;
/** A filesystem without hard links (FAT, some FUSE mounts): link() fails with EPERM. */
let noLinks = false;
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof realFs>();
  const link: typeof real.link = async (...args) => {
    if (noLinks)
      throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
    return real.link(...args);
  };
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    if (!failWrites(String(args[0]))) return handle;
    handle.writeFile = async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    return handle;
  };
  return { ...real, open, link };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-atomic-fail-'));
  failWrites = () => false;
  noLinks = false;
});
afterEach(async () => {
  failWrites = () => false;
  noLinks = false;
  await rm(dir, { recursive: true, force: true });
});

describe('a write that fails', () => {
  it('leaves the old file whole and no temp file behind', async () => {
    const path = join(dir, 'file.json');
    await writeFile(path, 'old');
    failWrites = () => true;
    await expect(writeFileAtomic(path, 'new')).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['file.json']);
    // The lane is free again: the next write goes through.
    failWrites = () => false;
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
  });

  it('fails every caller coalesced into it', async () => {
    const path = join(dir, 'file.json');
    await writeFile(path, 'old');
    failWrites = () => true;
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
    failWrites = () => true;
    const err = await store.set('carol', generateIdentity().publicKey).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String(err)).toContain(path);
    expect(String(err)).toMatch(/ENOSPC/);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['trust.json']);
  });

  it('without hard links, an exclusive create still never replaces, and leaves no half file', async () => {
    noLinks = true;
    const path = join(dir, 'key.json');
    expect(await writeFileAtomic(path, 'first', { exclusive: true })).toBe(true);
    expect(await writeFileAtomic(path, 'second', { exclusive: true })).toBe(false);
    expect(await readFile(path, 'utf8')).toBe('first');
    const other = join(dir, 'other.json');
    failWrites = (p) => p === other; // the temp file is written; the in-place fallback is not
    await expect(writeFileAtomic(other, 'x', { exclusive: true })).rejects.toMatchObject({
      code: 'ENOSPC',
    });
    expect(await readdir(dir)).toEqual(['key.json']);
  });
});

describe('makeDirs', () => {
  it('fails at once for a directory that cannot be made (Node’s recursive mkdir retries forever under /proc)', async () => {
    await expect(makeDirs('/proc/srmudp-nope/deeper', 0o700)).rejects.toThrow(
      /ENOENT|EACCES|EPERM/,
    );
  });

  it('makes missing levels and accepts existing ones', async () => {
    const base = await mkdtemp(join(tmpdir(), 'srmudp-dirs-'));
    const deep = join(base, 'a', 'b', 'c');
    await makeDirs(deep, 0o700);
    expect((await stat(deep)).isDirectory()).toBe(true);
    await makeDirs(deep, 0o700);
  });
});
