import dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { DhtNode } from '../../../source/net/discovery/dht.js';
import { RecordPolicy, signItem } from '../../../source/net/discovery/policy.js';
import { encodeRecord } from '../../../source/net/discovery/record.js';
import { type PrivateDht, privateDht } from './privatedht.js';

/** A minimal bencoder for hostile test messages (BEP 3 §"bencoding"). */
type B = number | string | Buffer | B[] | { [k: string]: B };
function bencode(v: B): Buffer {
  if (typeof v === 'number') return Buffer.from(`i${Math.trunc(v)}e`);
  if (typeof v === 'string') return bencode(Buffer.from(v));
  if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from(`${v.length}:`), v]);
  if (Array.isArray(v))
    return Buffer.concat([Buffer.from('l'), ...v.map(bencode), Buffer.from('e')]);
  const keys = Object.keys(v).sort();
  return Buffer.concat([
    Buffer.from('d'),
    ...keys.flatMap((k) => [bencode(k), bencode(v[k]!)]),
    Buffer.from('e'),
  ]);
}

const leaf: fc.Arbitrary<B> = fc.oneof(
  fc.integer({ min: -5, max: 2 ** 40 }),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  fc.constantFrom<B>(Buffer.alloc(20, 1), Buffer.alloc(32, 2), Buffer.alloc(64, 3), 'x'),
);
const value: fc.Arbitrary<B> = fc.oneof(
  leaf,
  fc.array(leaf, { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('id', 'v', 'k', 'x'), leaf, { maxKeys: 3 }),
);
const query = fc.record({
  t: fc.constantFrom<B>('aa', 5, Buffer.alloc(0)),
  y: fc.constantFrom<B>('q', 'r', 'e', 7),
  q: fc.constantFrom<B>('ping', 'find_node', 'get_peers', 'announce_peer', 'get', 'put', 'nope', 3),
  a: fc.dictionary(
    fc.constantFrom(
      'id',
      'target',
      'info_hash',
      'token',
      'port',
      'implied_port',
      'v',
      'k',
      'sig',
      'seq',
      'salt',
      'cas',
    ),
    value,
    { maxKeys: 8 },
  ),
});

let swarm: PrivateDht;
let node: DhtNode;

beforeAll(async () => {
  swarm = await privateDht(20);
  node = await DhtNode.start(new RecordPolicy(), { bootstrap: swarm.bootstrap, host: '127.0.0.1' });
});

afterAll(async () => {
  await node.close();
  await swarm.close();
});

describe('the DHT node under hostile datagrams', () => {
  it('survives 3,000 random KRPC messages and still publishes and resolves', async () => {
    const sock = dgram.createSocket('udp4');
    const { host, port } = node.address();
    const messages = fc.sample(query, { numRuns: 3000, seed: 18 });
    for (let i = 0; i < messages.length; i++) {
      await new Promise<void>((r) => sock.send(bencode(messages[i]! as B), port, host, () => r()));
      if (i % 200 === 0) await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 50; i++) {
      const junk = Buffer.from(
        fc.sample(fc.uint8Array({ maxLength: 200 }), { numRuns: 1, seed: i })[0]!,
      );
      await new Promise<void>((r) => sock.send(junk, port, host, () => r()));
    }
    // The last datagram sent is junk: once it is counted, all before it were handled.
    const last = Buffer.from('not KRPC');
    const before = node.stats.badMessages;
    await new Promise<void>((r) => sock.send(last, port, host, () => r()));
    await vi.waitFor(() => expect(node.stats.badMessages).toBeGreaterThan(before), {
      timeout: 5000,
      interval: 10,
    });
    sock.close();
    const id = generateIdentity();
    const rec = { nick: 'z', nat: 'unknown' as const, candidates: [] };
    const other = await DhtNode.start(new RecordPolicy(), {
      bootstrap: swarm.bootstrap,
      host: '127.0.0.1',
    });
    expect(await other.publish(signItem(id, encodeRecord(rec), Date.now()))).toBeGreaterThan(0);
    expect((await node.resolve(id.publicKey))?.record).toEqual(rec);
    await other.close();
  });
});
