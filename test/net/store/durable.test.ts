import type * as realFs from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { loadOrCreateIdentity } from '../../../source/net/store/identityfile.js';
import { TrustStore } from '../../../source/net/store/truststore.js';

/**
 * What the files we write ourselves go through, as operations on the disk
 * (security issue item 7): a fresh temp name opened exclusively, written and
 * fsync'd before it takes the target's name, and the directory fsync'd after
 * (POSIX rename(2) is atomic, but only an fsync of the file makes its
 * contents durable before the new name is, and of the directory the name).
 * Without the file's fsync a crash can leave trust.json renamed but empty.
 */

/** Every call of interest, in order: [operation, file name]. */
let log: [string, string][] = [];
let recording = false;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof realFs>();
  const note = (op: string, path: unknown) => {
    if (recording) log.push([op, basename(String(path))]);
  };
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    const path = args[0];
    note(`open:${String(args[1] ?? 'r')}`, path);
    const { writeFile, sync } = handle;
    handle.writeFile = async (...w: Parameters<typeof writeFile>) => {
      note('write', path);
      return writeFile.apply(handle, w);
    };
    handle.sync = async () => {
      note('fsync', path);
      return sync.apply(handle);
    };
    return handle;
  };
  const rename: typeof real.rename = async (from, to) => {
    note(`rename->${basename(String(to))}`, from);
    return real.rename(from, to);
  };
  const link: typeof real.link = async (from, to) => {
    note(`link->${basename(String(to))}`, from);
    return real.link(from, to);
  };
  return { ...real, open, rename, link };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-durable-'));
  log = [];
  recording = false;
});
afterEach(async () => {
  recording = false;
  await rm(dir, { recursive: true, force: true });
});

/** The log with temp names replaced by "tmp" (they are random). */
function shape(target: string): string[] {
  const tmp = new RegExp(`^\\.${target.replace('.', '\\.')}\\.[0-9a-f]+\\.tmp$`);
  return log.map(([op, name]) => `${op} ${tmp.test(name) ? 'tmp' : name}`);
}

describe('files we write ourselves are written durably', () => {
  it('trust.json: exclusive temp, written, fsync, rename, directory fsync — in that order', async () => {
    const store = await TrustStore.load(join(dir, 'trust.json'));
    recording = true;
    await store.set('bob', generateIdentity().publicKey);
    recording = false;
    expect(shape('trust.json')).toEqual([
      'open:wx tmp',
      'write tmp',
      'fsync tmp',
      `rename->trust.json tmp`,
      `open:r ${basename(dir)}`,
      `fsync ${basename(dir)}`,
    ]);
  });

  it('the identity key: exclusive temp, written, fsync, then a hard link (never replacing), directory fsync', async () => {
    recording = true;
    await loadOrCreateIdentity(join(dir, 'identity.json'));
    recording = false;
    const ops = shape('identity.json');
    expect(ops.slice(0, 4)).toEqual([
      'open:wx tmp',
      'write tmp',
      'fsync tmp',
      'link->identity.json tmp',
    ]);
    expect(ops).toContain(`fsync ${basename(dir)}`);
    expect(ops.indexOf(`fsync ${basename(dir)}`)).toBeGreaterThan(3);
  });
});
