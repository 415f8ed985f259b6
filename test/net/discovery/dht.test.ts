import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateIdentity, signDetached } from '../../../source/net/crypto/identity.js';
import { DhtNode, mutableTarget } from '../../../source/net/discovery/dht.js';
import {
  bep44SignedData,
  RecordPolicy,
  SALT,
  Sequencer,
  signItem,
} from '../../../source/net/discovery/policy.js';
import { type DiscoveryRecord, encodeRecord } from '../../../source/net/discovery/record.js';
import { inject, type PrivateDht, privateDht } from './privatedht.js';

const record: DiscoveryRecord = {
  nick: 'bob',
  nat: 'endpoint-independent',
  candidates: [{ kind: 'reflexive', address: '127.0.0.1', port: 40001 }],
};

let swarm: PrivateDht;
const started: DhtNode[] = [];

async function node(policy = new RecordPolicy()): Promise<{ dht: DhtNode; policy: RecordPolicy }> {
  const dht = await DhtNode.start(policy, { bootstrap: swarm.bootstrap, host: '127.0.0.1' });
  started.push(dht);
  return { dht, policy };
}

function signed(identity = generateIdentity(), seq = Date.now(), v = encodeRecord(record)) {
  return {
    k: identity.publicKey,
    v,
    seq,
    salt: SALT,
    sig: signDetached(identity, bep44SignedData(SALT, seq, v)),
  };
}

beforeAll(async () => {
  swarm = await privateDht(20);
});

afterAll(async () => {
  await Promise.all(started.map((n) => n.close()));
  await swarm.close();
});

describe('DHT discovery on a private loopback DHT of 20 nodes', () => {
  it('publishes a BEP 44 item under our key and resolves it by key from another node', async () => {
    const bob = generateIdentity();
    const pub = await node();
    const { dht: res, policy } = await node();
    expect(pub.dht.nodeCount).toBeGreaterThan(0);
    const seqs = new Sequencer();
    const stored = await pub.dht.publish(
      signItem(bob, encodeRecord(record), seqs.next(Date.now())),
    );
    expect(stored).toBeGreaterThan(0);
    const found = await res.resolve(bob.publicKey);
    expect(found?.record).toEqual(record);
    expect(found?.fresh).toBe(true);
    expect(policy.accepted).toBe(1);
    expect(pub.dht.stats).toMatchObject({ publishes: 1, publishFailures: 0 });
    // Bob moves: a republish supersedes (seq strictly increases even within one ms).
    const moved = { ...record, candidates: [{ ...record.candidates[0]!, port: 40002 }] };
    const t = Date.now();
    await pub.dht.publish(signItem(bob, encodeRecord(record), seqs.next(t)));
    expect(await pub.dht.publish(signItem(bob, encodeRecord(moved), seqs.next(t)))).toBeGreaterThan(
      0,
    );
    const again = await res.resolve(bob.publicKey);
    expect(again?.record).toEqual(moved);
    expect(res.stats.lookups).toBe(2);
  });

  it('a restarted publisher, its table still empty, stores its new record where lookups go', async () => {
    // Every node close to bob's key holds his old record and answers a get
    // with it and no closer nodes; a walk from the bootstrap alone stopped
    // at that first holder, and the new record reached one node.
    const bob = generateIdentity();
    const seqs = new Sequencer();
    const before = await node();
    const first = await before.dht.publish(signItem(bob, encodeRecord(record), seqs.next(1)));
    expect(first).toBeGreaterThanOrEqual(8);
    const restarted = await DhtNode.start(new RecordPolicy(), {
      bootstrap: swarm.bootstrap,
      host: '127.0.0.1',
      waitReady: false, // as the socket starts it
    });
    started.push(restarted);
    const moved = { ...record, candidates: [{ ...record.candidates[0]!, port: 40009 }] };
    const stored = await restarted.publish(signItem(bob, encodeRecord(moved), seqs.next(2)));
    expect(stored).toBeGreaterThanOrEqual(8);
    const { dht: reader } = await node();
    expect((await reader.resolve(bob.publicKey))?.record).toEqual(moved);
  });

  it('finds nothing for a key nobody published', async () => {
    const { dht } = await node();
    expect(await dht.resolve(generateIdentity().publicKey)).toBeUndefined();
    expect(dht.stats.notFound).toBe(1);
  });

  it('rejects and counts a forged record (signature that does not verify)', async () => {
    const carol = generateIdentity();
    const item = signed(carol);
    item.sig = Buffer.from(item.sig);
    item.sig[0]! ^= 1;
    inject(swarm, mutableTarget(carol.publicKey), item);
    const { dht, policy } = await node();
    expect(await dht.resolve(carol.publicKey)).toBeUndefined();
    expect(policy.rejected.signature).toBeGreaterThan(0);
    expect(policy.accepted).toBe(0);
  });

  it("rejects and counts a foreign key's record stored where ours should be", async () => {
    const dave = generateIdentity();
    inject(swarm, mutableTarget(dave.publicKey), signed(generateIdentity()));
    const { dht, policy } = await node();
    expect(await dht.resolve(dave.publicKey)).toBeUndefined();
    expect(policy.rejected['foreign-key']).toBeGreaterThan(0);
    expect(policy.accepted).toBe(0);
  });

  it('rejects and counts a stale seq (an old record replayed after a newer one was seen)', async () => {
    const erin = generateIdentity();
    const seen = Date.now();
    const { dht, policy } = await node();
    // We already accepted seq `seen` from Erin (an earlier lookup, or the LAN).
    expect(policy.judge(erin.publicKey, signed(erin, seen)).ok).toBe(true);
    inject(swarm, mutableTarget(erin.publicKey), signed(erin, seen - 60_000));
    expect(await dht.resolve(erin.publicKey)).toBeUndefined();
    expect(policy.rejected.stale).toBe(1);
  });

  it('rejects and counts an oversized value, even validly signed', async () => {
    const frank = generateIdentity();
    inject(swarm, mutableTarget(frank.publicKey), signed(frank, Date.now(), Buffer.alloc(1000, 1)));
    const { dht, policy } = await node();
    expect(await dht.resolve(frank.publicKey)).toBeUndefined();
    expect(policy.rejected.oversized).toBe(1);
  });

  it('counts malformed DHT messages and keeps working (a handler throw never escapes)', async () => {
    const { dht } = await node();
    const { host, port } = dht.address();
    const sock = dgram.createSocket('udp4');
    const send = (b: Buffer) => new Promise<void>((r) => sock.send(b, port, host, () => r()));
    // Not bencode; then a `put` whose token is an integer (bittorrent-dht calls token.equals).
    await send(Buffer.from('not bencode at all'));
    await send(
      Buffer.from('d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa5:tokeni5e1:v1:xe1:q3:put1:t2:zz1:y1:qe'),
    );
    await vi.waitFor(() => expect(dht.stats.badMessages).toBeGreaterThanOrEqual(2), {
      timeout: 5000,
      interval: 10,
    });
    sock.close();
    const gina = generateIdentity();
    const pub = await node();
    await pub.dht.publish(signItem(gina, encodeRecord(record), Date.now()));
    expect((await dht.resolve(gina.publicKey))?.record).toEqual(record);
  });
});
