import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatPeersFile,
  loadPeersFile,
  MAX_PEERS_FILE_BYTES,
  type PeerEntry,
  savePeersFile,
} from '../../source/app/peersfile.js';
import { UsageError } from '../../source/net/core/errors.js';
import { callDenied, isRoot } from '../support/asuser.js';

/** Any C0/C1 control or DEL (checked by code, independently of the code under test). */
function hasControl(text: string): boolean {
  return [...text].some((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f);
  });
}

const FP = 'rhpvxvglnj77cxqvsswne6u3qob37r5fjkzxqh6fcnytl4mjweza';
const FP2 = 'hoedrikisoul3m6khpwsumlphenbfvvnw5gvu6gityzcxqzy4daq';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-peers-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = (obj: unknown) => JSON.stringify(obj);
const valid = (peers: unknown) => file({ type: 'srmudp-peers', version: 1, peers });

/** Loading `body` fails with a UsageError naming the file and matching `why`; the file is untouched. */
async function expectRejected(body: string | Buffer, why: RegExp): Promise<void> {
  const path = join(dir, 'peers.json');
  await writeFile(path, body);
  const before = await stat(path);
  const err = await loadPeersFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toContain(path);
  expect((err as Error).message).toMatch(why);
  expect(hasControl((err as Error).message)).toBe(false);
  const after = await stat(path);
  expect(after.mtimeMs).toBe(before.mtimeMs);
  expect((await readFile(path)).equals(Buffer.from(body))).toBe(true);
  expect(await readdir(dir)).toEqual(['peers.json']);
}

describe('peers file', () => {
  it('round-trips through save and load', async () => {
    const peers: PeerEntry[] = [
      { nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP },
      { nick: 'carol', address: '[::1]:9001' },
      { nick: 'Zoë', address: 'example.org:443', fingerprint: FP2 },
    ];
    const path = join(dir, 'sub', 'peers.json');
    await savePeersFile(path, peers);
    expect(await loadPeersFile(path)).toEqual(peers);
    // The documented format, readable by people.
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json).toEqual({ type: 'srmudp-peers', version: 1, peers });
    expect(await readdir(join(dir, 'sub'))).toEqual(['peers.json']);
  });

  it('concurrent saves to one file leave the last list, valid, mode 0600', async () => {
    const path = join(dir, 'peers.json');
    const lists = Array.from({ length: 30 }, (_, i) => [
      { nick: `peer${i}`, address: `127.0.0.1:${9000 + i}` },
    ]);
    await Promise.all(lists.map((peers) => savePeersFile(path, peers)));
    expect(await loadPeersFile(path)).toEqual(lists[29]);
    expect(await readdir(dir)).toEqual(['peers.json']);
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('an empty list round-trips', async () => {
    const path = join(dir, 'empty.json');
    await savePeersFile(path, []);
    expect(await loadPeersFile(path)).toEqual([]);
  });

  it('saving replaces an existing file whole', async () => {
    const path = join(dir, 'peers.json');
    await savePeersFile(path, [{ nick: 'bob', address: '127.0.0.1:9000' }]);
    await savePeersFile(path, [{ nick: 'carol', address: '127.0.0.1:9001' }]);
    expect(await loadPeersFile(path)).toEqual([{ nick: 'carol', address: '127.0.0.1:9001' }]);
    expect(await readdir(dir)).toEqual(['peers.json']);
  });

  it('normalises fingerprints and ignores unknown fields on load', async () => {
    const path = join(dir, 'peers.json');
    await writeFile(
      path,
      file({
        type: 'srmudp-peers',
        version: 1,
        comment: 'mine',
        peers: [{ nick: 'bob', address: ' 127.0.0.1:9000 ', fingerprint: FP.toUpperCase(), x: 1 }],
      }),
    );
    expect(await loadPeersFile(path)).toEqual([
      { nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP },
    ]);
  });

  it('accepts a UTF-8 byte order mark', async () => {
    const path = join(dir, 'peers.json');
    await writeFile(path, `\uFEFF${valid([{ nick: 'bob', address: '127.0.0.1:9000' }])}`);
    expect(await loadPeersFile(path)).toHaveLength(1);
  });

  it('refuses to save bad entries, writing nothing', async () => {
    const path = join(dir, 'peers.json');
    const bad: PeerEntry[][] = [
      [{ nick: 'b b', address: '127.0.0.1:9000' }],
      [{ nick: 'bob', address: 'nowhere' }],
      [{ nick: 'bob', address: '127.0.0.1:9000', fingerprint: 'abc' }],
      [
        { nick: 'bob', address: '127.0.0.1:9000' },
        { nick: 'bob', address: '127.0.0.1:9001' },
      ],
    ];
    for (const peers of bad) {
      await expect(savePeersFile(path, peers)).rejects.toBeInstanceOf(UsageError);
      expect(() => formatPeersFile(peers)).toThrow(UsageError);
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a save it cannot do, naming the file, and leaves no temp file', async () => {
    const blocker = join(dir, 'not-a-dir');
    await writeFile(blocker, 'x');
    const path = join(blocker, 'peers.json');
    await expect(savePeersFile(path, [])).rejects.toThrow(
      expect.objectContaining({ name: 'UsageError', message: expect.stringContaining(path) }),
    );
    expect(await readdir(dir)).toEqual(['not-a-dir']);
  });

  it('a missing file is a UsageError naming it (and not created)', async () => {
    const path = join(dir, 'missing.json');
    await expect(loadPeersFile(path)).rejects.toThrow(/missing\.json does not exist/);
    await expect(loadPeersFile(path)).rejects.toBeInstanceOf(UsageError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a directory is a UsageError naming it', async () => {
    const path = join(dir, 'adir');
    await mkdir(path);
    await expect(loadPeersFile(path)).rejects.toThrow(new RegExp(`${path}.*directory`));
  });

  // As root (CI) the read runs in a child that dropped to uid nobody (asuser.ts):
  // the file is nobody's own, so only its mode can refuse the read.
  it.skipIf(process.platform === 'win32')(
    'an unreadable file is a UsageError naming it',
    async () => {
      const path = join(dir, 'peers.json');
      await writeFile(path, valid([]));
      await chmod(dir, 0o755);
      if (isRoot()) await chown(path, 65534, 65534);
      await chmod(path, 0o000);
      const denied = await callDenied('source/app/peersfile.ts', 'loadPeersFile', path);
      expect(denied.ok === false && denied.name).toBe('UsageError');
      expect(denied.ok === false && denied.message).toMatch(/cannot read peers file .*EACCES/);
      expect(denied.ok === false && denied.message).toContain(path);
      // Control: the same user and file, readable: it loads.
      await chmod(path, 0o600);
      expect(await callDenied('source/app/peersfile.ts', 'loadPeersFile', path)).toEqual({
        ok: true,
      });
    },
  );

  describe('each malformation is a UsageError naming the file; the file is unchanged', () => {
    const cases: [string, string | Buffer, RegExp][] = [
      ['empty file', '', /not JSON/],
      ['not JSON', '{"type": "srmudp-peers",', /not JSON/],
      ['binary junk', Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x9b]), /not JSON/],
      ['a JSON array', '[]', /not a JSON object/],
      ['a JSON string', '"peers"', /not a JSON object/],
      ['null', 'null', /not a JSON object/],
      ['wrong type', file({ type: 'srmudp-trust', version: 1, peers: [] }), /"type"/],
      ['no type', file({ version: 1, peers: [] }), /"type"/],
      [
        'newer version',
        file({ type: 'srmudp-peers', version: 2, peers: [] }),
        /version.*newer version/,
      ],
      ['version as string', file({ type: 'srmudp-peers', version: '1', peers: [] }), /version/],
      ['no version', file({ type: 'srmudp-peers', peers: [] }), /version/],
      ['peers not a list', file({ type: 'srmudp-peers', version: 1, peers: {} }), /"peers"/],
      ['no peers', file({ type: 'srmudp-peers', version: 1 }), /"peers"/],
      ['entry not an object', valid(['bob']), /peers\[0\] is not an object/],
      ['entry null', valid([null]), /peers\[0\] is not an object/],
      ['missing nick', valid([{ address: '127.0.0.1:9000' }]), /peers\[0\]\.nick/],
      ['nick not a string', valid([{ nick: 7, address: '127.0.0.1:9000' }]), /peers\[0\]\.nick/],
      ['bad nick', valid([{ nick: 'b b', address: '127.0.0.1:9000' }]), /nick "b b"/],
      [
        'hostile nick',
        valid([{ nick: '\u001b]52;c;aGk=\u0007', address: '127.0.0.1:9000' }]),
        /nick "\\x1b]52;c;aGk=\\x07"/,
      ],
      ['long nick', valid([{ nick: 'n'.repeat(33), address: '127.0.0.1:9000' }]), /nick/],
      ['missing address', valid([{ nick: 'bob' }]), /peers\[0\]\.address/],
      ['address not a string', valid([{ nick: 'bob', address: 9000 }]), /address/],
      ['bad address', valid([{ nick: 'bob', address: '127.0.0.1' }]), /address "127\.0\.0\.1"/],
      ['bad port', valid([{ nick: 'bob', address: '127.0.0.1:99999' }]), /address/],
      ['huge address', valid([{ nick: 'bob', address: `${'a'.repeat(1000)}:1` }]), /too long/],
      [
        'bad fingerprint',
        valid([{ nick: 'bob', address: '127.0.0.1:9000', fingerprint: 'abc' }]),
        /fingerprint "abc"/,
      ],
      [
        'fingerprint not a string',
        valid([{ nick: 'bob', address: '127.0.0.1:9000', fingerprint: 1 }]),
        /fingerprint/,
      ],
      [
        'duplicate nick',
        valid([
          { nick: 'bob', address: '127.0.0.1:9000' },
          { nick: 'bob', address: '127.0.0.1:9001' },
        ]),
        /peers\[1\]\.nick duplicates peers\[0\]/,
      ],
      [
        'duplicate address',
        valid([
          { nick: 'bob', address: 'Example.org:9000' },
          { nick: 'carol', address: 'example.ORG:9000' },
        ]),
        /peers\[1\]\.address duplicates peers\[0\]/,
      ],
      [
        'duplicate fingerprint',
        valid([
          { nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP },
          { nick: 'carol', address: '127.0.0.1:9001', fingerprint: FP.toUpperCase() },
        ]),
        /peers\[1\]\.fingerprint duplicates peers\[0\]/,
      ],
      [
        'a bad entry after good ones',
        valid([
          { nick: 'bob', address: '127.0.0.1:9000' },
          { nick: 'carol', address: '127.0.0.1:9001' },
          { nick: 'dave', address: 'x' },
        ]),
        /peers\[2\]\.address/,
      ],
      ['too big', ' '.repeat(MAX_PEERS_FILE_BYTES + 1), /limit/],
    ];
    for (const [name, body, why] of cases) {
      it(name, async () => {
        await expectRejected(body, why);
      });
    }
  });
});
