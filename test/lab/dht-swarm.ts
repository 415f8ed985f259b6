/**
 * A private Mainline DHT for the NAT lab (issue 18): `count` bittorrent-dht
 * nodes, each on its own lab "internet" address (argv: the addresses) at the
 * BEP 5 customary port 6881. The first starts with no bootstrap; every other
 * joins through it, as a fresh client joins through a router. Runs inside the
 * lab's `dht` namespace (test/lab/dht.ts starts it), whose only interface is
 * the lab bridge: it cannot reach the public routers even by mistake.
 *
 * Prints one JSON line `{ ready, bootstrap, tables }` once every node's
 * routing table is populated; exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import DHT from 'bittorrent-dht';
import { verifyDetached } from '../../source/net/crypto/identity.js';

export const DHT_PORT = 6881;

/** BEP 44 puts others make on us: store only what verifies. */
const verify = (sig: unknown, msg: Buffer, key: unknown): boolean =>
  Buffer.isBuffer(sig) && Buffer.isBuffer(key) && verifyDetached(key, msg, sig);

function listen(dht: DHT, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    dht.once('error', reject);
    dht.listen(DHT_PORT, host, () => {
      dht.off('error', reject);
      resolve();
    });
  });
}

function ready(dht: DHT): Promise<void> {
  return dht.ready ? Promise.resolve() : new Promise((r) => dht.once('ready', () => r()));
}

async function main(addresses: string[]): Promise<void> {
  const [firstHost, ...others] = addresses;
  if (firstHost === undefined) throw new Error('usage: dht-swarm.ts <address>...');
  const first = new DHT({ bootstrap: false, verify, host: false });
  await listen(first, firstHost);
  const bootstrap = [`${firstHost}:${DHT_PORT}`];
  const rest = others.map(() => new DHT({ bootstrap, verify, host: false }));
  await Promise.all(rest.map((d, i) => listen(d, others[i]!)));
  const nodes = [first, ...rest];
  // A node's misbehaving peer is a warning, never a crash of the whole swarm.
  for (const n of nodes) n.on('warning', () => undefined);
  await Promise.all(nodes.map(ready));
  process.stdout.write(
    `${JSON.stringify({ ready: true, bootstrap: bootstrap[0], tables: nodes.map((n) => n.toJSON().nodes.length) })}\n`,
  );
  const close = () => {
    for (const n of nodes) n.destroy();
    setTimeout(() => process.exit(0), 200).unref();
  };
  createInterface({ input: process.stdin }).on('close', close);
}

await main(process.argv.slice(2));
