import dgram from 'node:dgram';
import DHT from 'bittorrent-dht';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateIdentity, verifyDetached } from '../../../source/net/crypto/identity.js';
import { DhtNode } from '../../../source/net/discovery/dht.js';
import { Discovery, type DiscoveryHost } from '../../../source/net/discovery/discovery.js';
import { RecordPolicy } from '../../../source/net/discovery/policy.js';
import type { DiscoveryRecord } from '../../../source/net/discovery/record.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const verify = (sig: unknown, msg: Buffer, key: unknown) =>
  Buffer.isBuffer(sig) && Buffer.isBuffer(key) && verifyDetached(key, msg, sig);

/** A private DHT whose first node listens on `port` (so a node told that port earlier can join). */
async function swarmAt(port: number, count: number): Promise<string[]> {
  const first = new DHT({ bootstrap: false, verify, host: false });
  await new Promise<void>((r) => first.listen(port, '127.0.0.1', () => r()));
  const bootstrap = [`127.0.0.1:${port}`];
  const rest = Array.from({ length: count - 1 }, () => new DHT({ bootstrap, verify, host: false }));
  await Promise.all(rest.map((d) => new Promise<void>((r) => d.listen(0, '127.0.0.1', () => r()))));
  const all = [first, ...rest];
  await Promise.all(all.map((d) => (d.ready ? undefined : new Promise((r) => d.once('ready', r)))));
  cleanup.push(() =>
    Promise.all(all.map((d) => new Promise<void>((r) => d.destroy(() => r())))).then(),
  );
  return bootstrap;
}

describe('publishing when the DHT is not reachable yet', () => {
  it('a publish no node took is retried, and the record is found once the DHT is up', async () => {
    const port = await freePort();
    const identity = generateIdentity();
    const record: DiscoveryRecord = {
      nick: 'bob',
      nat: 'unknown',
      candidates: [{ kind: 'host', address: '127.0.0.1', port: 4000 }],
    };
    const host: DiscoveryHost = {
      identity,
      record: () => record,
      lanEndpoint: () => ({ port: 4000, ipv4: [] }),
      local: () => ({ addresses: ['127.0.0.1'] }),
      connected: () => false,
      dial: () => undefined,
      epochNow: () => Date.now(),
      now: () => performance.now(),
    };
    // Nothing listens at the bootstrap yet: the first publish reaches no node.
    const started = performance.now();
    const d = await Discovery.start(
      host,
      { dht: { bootstrap: [`127.0.0.1:${port}`], publish: true }, mdns: false },
      { dhtHost: '127.0.0.1', dhtTimeout: 300, timing: { refresh: 100, publishRetry: 500 } },
    );
    cleanup.push(() => d.close());
    await vi.waitFor(() => expect(d.stats().publishFailures).toBeGreaterThanOrEqual(1), {
      timeout: 10_000,
      interval: 50,
    });
    expect(d.stats().publishes).toBe(0);
    const bootstrap = await swarmAt(port, 20);
    await vi.waitFor(() => expect(d.stats().publishes).toBeGreaterThanOrEqual(1), {
      timeout: 20_000,
      interval: 50,
    });
    // Retries are paced by publishRetry (0.5 s), not by the 100 ms refresh.
    const elapsed = performance.now() - started;
    expect(d.stats().versions).toBeLessThanOrEqual(2 + Math.ceil(elapsed / 500));
    const resolver = await DhtNode.start(new RecordPolicy(), { bootstrap, host: '127.0.0.1' });
    cleanup.push(() => resolver.close());
    expect((await resolver.resolve(identity.publicKey))?.record).toEqual(record);
  });
});
