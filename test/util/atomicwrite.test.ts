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
import { TEMP_NAME_ATTEMPTS, writeFileAtomic } from '../../source/util/atomicwrite.js';

const posix = process.platform !== 'win32';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Yields the given suffixes in turn, counting how many temp names were asked for. */
function names(...suffixes: string[]): { next: () => string; calls: () => number } {
  let i = 0;
  return {
    next: () => suffixes[i++] ?? `fresh${i}`,
    calls: () => i,
  };
}

describe('writeFileAtomic', () => {
  it('writes the file 0600 in 0700 parents it creates, leaving no temp file', async () => {
    const path = join(dir, 'a', 'b', 'file.json');
    expect(await writeFileAtomic(path, 'one')).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('one');
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['file.json']);
    if (posix) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o700);
    }
    await writeFileAtomic(path, Buffer.from('two'), { mode: 0o640 });
    expect(await readFile(path, 'utf8')).toBe('two');
    if (posix) expect((await stat(path)).mode & 0o777).toBe(0o640 & ~process.umask());
  });

  it('30 concurrent writes: the last state wins, in at most 2 file writes', async () => {
    const path = join(dir, 'file.json');
    const counter = names();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        writeFileAtomic(path, JSON.stringify({ i }), { randomName: counter.next }),
      ),
    );
    expect(results).toEqual(Array(30).fill(true));
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ i: 29 });
    // The first write runs at once; the 29 behind it coalesce into one.
    expect(counter.calls()).toBe(2);
    expect(await readdir(dir)).toEqual(['file.json']);
  });

  it.skipIf(!posix)(
    'skips a symlink or file planted at the chosen temp name instead of following it',
    async () => {
      const path = join(dir, 'trust.json');
      const victim = join(dir, 'victim');
      await writeFile(victim, 'precious');
      const link = join(dir, '.trust.json.planted.tmp');
      const dangling = join(dir, '.trust.json.dangling.tmp');
      const file = join(dir, '.trust.json.file.tmp');
      await symlink(victim, link);
      await symlink(join(dir, 'nowhere'), dangling);
      await writeFile(file, 'theirs');
      const counter = names('planted', 'dangling', 'file', 'ours');
      expect(await writeFileAtomic(path, 'new', { randomName: counter.next })).toBe(true);
      expect(counter.calls()).toBe(4);
      expect(await readFile(path, 'utf8')).toBe('new');
      expect((await lstat(path)).isSymbolicLink()).toBe(false);
      expect(await readFile(victim, 'utf8')).toBe('precious');
      // Someone else's names are left exactly as they were.
      expect(await readlink(link)).toBe(victim);
      expect(await readlink(dangling)).toBe(join(dir, 'nowhere'));
      expect(await readFile(file, 'utf8')).toBe('theirs');
      await expect(stat(join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );

  it('gives up with EEXIST when every temp name is taken, leaving the old file', async () => {
    const path = join(dir, 'file.json');
    await writeFile(path, 'old');
    await writeFile(join(dir, '.file.json.same.tmp'), 'theirs');
    const err = await writeFileAtomic(path, 'new', { randomName: () => 'same' }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readFile(join(dir, '.file.json.same.tmp'), 'utf8')).toBe('theirs');
    expect(TEMP_NAME_ATTEMPTS).toBeGreaterThan(1);
  });

  it('exclusive: never replaces an existing file, and one of many creators wins', async () => {
    const path = join(dir, 'key.json');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => writeFileAtomic(path, `v${i}`, { exclusive: true })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await readFile(path, 'utf8')).toBe(`v${winner}`);
    expect(await writeFileAtomic(path, 'later', { exclusive: true })).toBe(false);
    expect(await readFile(path, 'utf8')).toBe(`v${winner}`);
    expect(await readdir(dir)).toEqual(['key.json']);
  });

  it('a replacing write queued behind an exclusive one still happens after it', async () => {
    const path = join(dir, 'f');
    const [created, replaced] = await Promise.all([
      writeFileAtomic(path, 'first', { exclusive: true }),
      writeFileAtomic(path, 'second'),
    ]);
    expect([created, replaced]).toEqual([true, true]);
    expect(await readFile(path, 'utf8')).toBe('second');
  });
});
