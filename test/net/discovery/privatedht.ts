import DHT from 'bittorrent-dht';
import { verifyDetached } from '../../../source/net/crypto/identity.js';

/**
 * A private Mainline DHT on 127.0.0.1: the first node has no bootstrap, every
 * other joins through it. Nothing here can reach the public routers: each
 * node gets an explicit list (or false).
 */
export interface PrivateDht {
  nodes: DHT[];
  /** `127.0.0.1:port` of the first node, to bootstrap from. */
  bootstrap: string[];
  close(): Promise<void>;
}

const verify = (sig: unknown, msg: Buffer, key: unknown): boolean =>
  Buffer.isBuffer(sig) && Buffer.isBuffer(key) && verifyDetached(key, msg, sig);

function listen(dht: DHT): Promise<void> {
  return new Promise((resolve) => dht.listen(0, '127.0.0.1', () => resolve()));
}

function ready(dht: DHT): Promise<void> {
  return dht.ready ? Promise.resolve() : new Promise((r) => dht.once('ready', () => r()));
}

export async function privateDht(count: number): Promise<PrivateDht> {
  const first = new DHT({ bootstrap: false, verify, host: false });
  await listen(first);
  const bootstrap = [`127.0.0.1:${first.address().port}`];
  const rest = Array.from({ length: count - 1 }, () => new DHT({ bootstrap, verify, host: false }));
  await Promise.all(rest.map(listen));
  await Promise.all([first, ...rest].map(ready));
  const nodes = [first, ...rest];
  return {
    nodes,
    bootstrap,
    close: async () => {
      await Promise.all(nodes.map((n) => new Promise<void>((r) => n.destroy(() => r()))));
    },
  };
}

/** What a (malicious or outdated) node returns for `get`: stored on every node of the swarm. */
export interface InjectedItem {
  k: Buffer;
  v: Buffer;
  seq: number;
  sig: Buffer;
  salt: Buffer;
}

/** Plants an item directly in each node's store, bypassing put's checks (as a hostile node would). */
export function inject(swarm: PrivateDht, target: Buffer, item: InjectedItem): void {
  for (const node of swarm.nodes) {
    const store = (node as unknown as { _values: { set(k: string, v: unknown): void } })._values;
    store.set(target.toString('hex'), { ...item, id: node.nodeId });
  }
}
