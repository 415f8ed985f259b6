import {
  chmod,
  chown,
  lstat,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import {
  generateIdentity,
  signDetached,
  verifyDetached,
} from '../../../source/net/crypto/identity.js';
import {
  IDENTITY_FILE_VERSION,
  loadOrCreateIdentity,
  restoreIdentityFile,
} from '../../../source/net/store/identityfile.js';
import { callDenied, isRoot } from '../../support/asuser.js';

const posix = process.platform !== 'win32';

describe('loadOrCreateIdentity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srmudp-identity-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 0600 file (and 0700 parents) then loads the same key', async () => {
    const path = join(dir, 'nested', 'deeper', 'identity.json');
    const created = await loadOrCreateIdentity(path);
    const doc = JSON.parse(await readFile(path, 'utf8'));
    expect(doc).toEqual({
      type: 'srmudp-identity',
      version: IDENTITY_FILE_VERSION,
      publicKey: created.publicKey.toString('base64'),
      secretKey: created.secretKey.toString('base64'),
    });
    if (posix) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700);
    }
    const loaded = await loadOrCreateIdentity(path);
    expect(loaded.publicKey).toEqual(created.publicKey);
    expect(loaded.secretKey).toEqual(created.secretKey);
    const sig = signDetached(loaded, Buffer.from('x'));
    expect(verifyDetached(created.publicKey, Buffer.from('x'), sig)).toBe(true);
  });

  it('lets exactly one concurrent creator win', async () => {
    const path = join(dir, 'identity.json');
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(path)));
    for (const id of all) expect(id.publicKey).toEqual(all[0]!.publicKey);
    const onDisk = JSON.parse(await readFile(path, 'utf8'));
    expect(onDisk.publicKey).toBe(all[0]!.publicKey.toString('base64'));
  });

  it('never overwrites an existing key file, and leaves no temp file', async () => {
    const path = join(dir, 'identity.json');
    const first = await loadOrCreateIdentity(path);
    const text = await readFile(path, 'utf8');
    const again = await loadOrCreateIdentity(path);
    expect(again.publicKey).toEqual(first.publicKey);
    expect(await readFile(path, 'utf8')).toBe(text);
    expect(await readdir(dir)).toEqual(['identity.json']);
  });

  it.skipIf(!posix)('never writes a key through a symlink planted at its path', async () => {
    const path = join(dir, 'identity.json');
    const target = join(dir, 'attacker-reads-this');
    await symlink(target, path);
    const err = await loadOrCreateIdentity(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(path);
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    expect(await readdir(dir)).toEqual(['identity.json']);
  });

  const b64 = (b: Buffer) => b.toString('base64');
  type Corruption = [string, (good: Record<string, unknown>, text: string) => string, RegExp];
  const corruptions: Corruption[] = [
    ['not JSON', (_g, text) => text.slice(0, -3), /not valid JSON/],
    ['not an object', () => '[1,2]', /not a JSON object/],
    ['wrong type', (g) => JSON.stringify({ ...g, type: 'ssh' }), /not an srmudp identity/],
    ['newer version', (g) => JSON.stringify({ ...g, version: 2 }), /newer version\?/],
    ['missing version', (g) => JSON.stringify({ ...g, version: undefined }), /version/],
    [
      'truncated secret key',
      (g) =>
        JSON.stringify({
          ...g,
          secretKey: b64(Buffer.from(g.secretKey as string, 'base64').subarray(0, 63)),
        }),
      /secretKey must be 64 bytes/,
    ],
    [
      'truncated public key',
      (g) =>
        JSON.stringify({
          ...g,
          publicKey: b64(Buffer.from(g.publicKey as string, 'base64').subarray(0, 31)),
        }),
      /publicKey must be 32 bytes/,
    ],
    [
      'secret key not base64',
      (g) => JSON.stringify({ ...g, secretKey: `!${g.secretKey as string}` }),
      /secretKey .*base64/,
    ],
    [
      'mismatched public key',
      (g) => JSON.stringify({ ...g, publicKey: b64(generateIdentity().publicKey) }),
      /does not match/,
    ],
    [
      'secret key with a foreign public half',
      (g) => {
        const sk = Buffer.from(g.secretKey as string, 'base64');
        const other = generateIdentity().publicKey;
        other.copy(sk, 32);
        return JSON.stringify({ ...g, publicKey: b64(other), secretKey: b64(sk) });
      },
      /does not match/,
    ],
  ];

  async function expectRejected(path: string, pattern: RegExp, secret: string): Promise<void> {
    const before = await readFile(path);
    const err = await loadOrCreateIdentity(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    const message = (err as Error).message;
    expect(message).toContain(path);
    expect(message).toMatch(pattern);
    expect(message).not.toContain(secret);
    expect(message).not.toContain(secret.slice(0, 12));
    expect(await readFile(path)).toEqual(before);
  }

  for (const [name, corrupt, pattern] of corruptions) {
    it(`rejects a file with ${name}, leaving it untouched`, async () => {
      const path = join(dir, 'identity.json');
      await loadOrCreateIdentity(path);
      const text = await readFile(path, 'utf8');
      const good = JSON.parse(text) as Record<string, unknown>;
      await writeFile(path, corrupt(good, text), { mode: 0o600 });
      await expectRejected(path, pattern, good.secretKey as string);
    });
  }

  it.skipIf(!posix)('refuses a group/world-accessible file (mode 0644)', async () => {
    const path = join(dir, 'identity.json');
    await loadOrCreateIdentity(path);
    const secret = JSON.parse(await readFile(path, 'utf8')).secretKey as string;
    await chmod(path, 0o644);
    await expectRejected(path, new RegExp(`chmod 600 ${path}`), secret);
    expect((await stat(path)).mode & 0o777).toBe(0o644);
  });

  // As root (CI) the read runs in a child that dropped to uid nobody (asuser.ts):
  // the file is nobody's own, so only its mode can refuse the read.
  it.skipIf(!posix)('reports an unreadable file (EACCES), and reads it once readable', async () => {
    const path = join(dir, 'identity.json');
    const made = await loadOrCreateIdentity(path);
    await chmod(dir, 0o755);
    if (isRoot()) await chown(path, 65534, 65534);
    await chmod(path, 0o000);
    const source = 'source/net/store/identityfile.ts';
    const denied = await callDenied(source, 'loadOrCreateIdentity', path);
    expect(denied.ok).toBe(false);
    expect(denied.ok === false && denied.name).toBe('UsageError');
    expect(denied.ok === false && denied.message).toContain(path);
    expect(denied.ok === false && denied.message).toMatch(/EACCES/);
    // Control: the same user, file and directory, mode 600: it loads, unchanged.
    await chmod(path, 0o600);
    expect(await callDenied(source, 'loadOrCreateIdentity', path)).toEqual({ ok: true });
    expect((await loadOrCreateIdentity(path)).publicKey).toEqual(made.publicKey);
  });
});

describe('restoreIdentityFile (the data directory deleted while running)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'srmudp-identity-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the same key back, 0600 in a 0700 directory, only when the file is gone', async () => {
    const profile = join(dir, 'profile');
    const path = join(profile, 'identity.json');
    const identity = await loadOrCreateIdentity(path);
    const before = await readFile(path, 'utf8');
    expect(await restoreIdentityFile(path, identity)).toBe(false);
    await rm(profile, { recursive: true, force: true });
    expect(await restoreIdentityFile(path, identity)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect((await loadOrCreateIdentity(path)).publicKey.equals(identity.publicKey)).toBe(true);
    if (posix) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(profile)).mode & 0o777).toBe(0o700);
    }
  });

  it('never replaces a file someone put there meanwhile', async () => {
    const path = join(dir, 'identity.json');
    const mine = generateIdentity();
    const theirs = await loadOrCreateIdentity(path);
    expect(await restoreIdentityFile(path, mine)).toBe(false);
    expect((await loadOrCreateIdentity(path)).publicKey.equals(theirs.publicKey)).toBe(true);
  });
});
