/**
 * A lab node for discovery by key (issue 18), run inside one lab site's
 * namespace by test/lab/dht.ts: one JSON request per stdin line, one JSON
 * reply per stdout line (same `id`); exits when stdin closes.
 *
 * Its DHT traffic goes only to the bootstrap the test names (the lab's
 * private DHT on the lab bridge) and the nodes that DHT returns; STUN only to
 * the lab's servers; peers only to what records in that DHT list. The
 * namespace has no other interface, so nothing here can reach the public
 * routers.
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { generateIdentity, type Identity } from '../../source/net/crypto/identity.js';
import { DhtNode } from '../../source/net/discovery/dht.js';
import { RecordPolicy, signItem } from '../../source/net/discovery/policy.js';
import { encodeRecord } from '../../source/net/discovery/record.js';
import { type Message, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import type { DhtAgentRequest } from './dht.js';

type Request = DhtAgentRequest & { id: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function reply(id: number, body: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...body, id })}\n`);
}

// ---- bare BEP 44 publish / resolve, for the publish → resolve figure ------------

let dhtNode: DhtNode | undefined;

async function dhtStart(req: Extract<Request, { op: 'dht-start' }>) {
  dhtNode ??= await DhtNode.start(new RecordPolicy(), {
    bootstrap: req.bootstrap,
    host: '0.0.0.0',
  });
  return { tableSize: dhtNode.nodeCount };
}

/** Publishes a record for a fresh key (as a node that just came online does). */
async function dhtPublish() {
  if (!dhtNode) throw new Error('dht-start first');
  const id = generateIdentity();
  const v = encodeRecord({
    nick: 'probe',
    nat: 'endpoint-independent',
    candidates: [{ kind: 'reflexive', address: '198.18.0.21', port: 40000 }],
  });
  const t0 = performance.now();
  const stored = await dhtNode.publish(signItem(id, v, Date.now()));
  return { key: id.publicKey.toString('hex'), ms: performance.now() - t0, stored };
}

async function dhtResolve(req: Extract<Request, { op: 'dht-resolve' }>) {
  if (!dhtNode) throw new Error('dht-start first');
  const t0 = performance.now();
  const found = await dhtNode.resolve(Buffer.from(req.key, 'hex'));
  return { found: found !== undefined, ms: performance.now() - t0 };
}

// ---- srmudp-tui sockets with the DHT on -----------------------------------------

interface Node {
  sock: MultiHolepunchSocket;
  nick: string;
  messages: Message[];
}
const nodes = new Map<number, Node>();
let nextHandle = 1;

function identityOf(secretKeyHex: string | undefined): Identity {
  if (secretKeyHex === undefined) return generateIdentity();
  const secretKey = Buffer.from(secretKeyHex, 'hex');
  // libsodium's secret key is seed ‖ public key.
  return { secretKey, publicKey: secretKey.subarray(32) };
}

async function bind(req: Extract<Request, { op: 'bind' }>) {
  const identity = identityOf(req.secretKey);
  const sock = await MultiHolepunchSocket.bind({
    nick: req.nick,
    host: '0.0.0.0',
    port: req.port,
    identity,
    stun: req.stun,
    stunRto: 100,
    sendTimeout: 10_000,
    dht: { bootstrap: req.bootstrap },
  });
  const handle = nextHandle++;
  const node: Node = { sock, nick: req.nick, messages: [] };
  nodes.set(handle, node);
  sock.on('message', (m) => node.messages.push(m));
  const t0 = performance.now();
  while (!sock.stunInfo()?.done && performance.now() - t0 < 4000) await sleep(10);
  return {
    handle,
    fingerprint: sock.fingerprint,
    secretKey: identity.secretKey.toString('hex'),
    publicAddress: sock.stunInfo()?.publicAddress,
    local: sock.localAddress(),
  };
}

/**
 * At `startAt` (epoch ms) adds `peers` (nick → fingerprint only), waits until
 * `expect` (a nick) is connected, then exchanges one message each way with it.
 */
async function connect(req: Extract<Request, { op: 'connect' }>) {
  const node = nodes.get(req.handle);
  if (!node) throw new Error(`no node ${req.handle}`);
  const { sock } = node;
  const t0 = Math.max(performance.now(), req.startAt - performance.timeOrigin);
  await sleep(t0 - performance.now());
  const deadline = t0 + req.timeoutMs;
  const find = () => sock.peers().find((p) => p.nick === req.expect);
  const seenBefore = node.messages.length;
  if (Object.keys(req.peers).length > 0) await sock.addPeers(req.peers);
  while (find()?.state.kind !== 'connected' && performance.now() < deadline) await sleep(5);
  const peer = find();
  const connectMs = peer?.state.kind === 'connected' ? performance.now() - t0 : undefined;
  let acked = false;
  let received = false;
  if (connectMs !== undefined) {
    const timeout = Math.max(1, deadline - performance.now());
    const [sent] = await Promise.allSettled([
      sock.send(`hello from ${node.nick}`, { recipient: req.expect, timeout }),
      (async () => {
        while (performance.now() < deadline) {
          if (node.messages.slice(seenBefore).some((m) => m.peer === req.expect)) {
            received = true;
            return;
          }
          await sleep(5);
        }
      })(),
    ]);
    acked = sent.status === 'fulfilled';
  }
  const d = sock.stats().discovery;
  return {
    state: peer?.state.kind ?? 'absent',
    address: peer?.address,
    fingerprint: peer?.fingerprint,
    pinned: sock.pinnedFingerprint(req.expect),
    connectMs,
    acked,
    received,
    discovery: d && {
      versions: d.versions,
      publishes: d.publishes,
      lookups: d.lookups,
      accepted: d.accepted,
      dialsDht: d.dials.dht,
      rejected: Object.values(d.rejected).reduce((a, b) => a + b, 0),
      rejectedBy: Object.fromEntries(Object.entries(d.rejected).filter(([, n]) => n > 0)),
      publishFailures: d.publishFailures,
      foundBy: d.lookingFor[req.expect],
    },
  };
}

/** Waits until `versions` versions of our record are signed and as many stored in the DHT. */
async function settle(req: Extract<Request, { op: 'settle' }>) {
  const node = nodes.get(req.handle);
  if (!node) throw new Error(`no node ${req.handle}`);
  const t0 = performance.now();
  const done = () => {
    const d = node.sock.stats().discovery;
    return d !== undefined && d.versions >= req.versions && d.publishes >= req.versions;
  };
  while (!done() && performance.now() - t0 < req.timeoutMs) await sleep(20);
  const d = node.sock.stats().discovery;
  return { settled: done(), versions: d?.versions, publishes: d?.publishes };
}

async function close(req: Extract<Request, { op: 'close' }>) {
  const node = nodes.get(req.handle);
  nodes.delete(req.handle);
  await node?.sock.close();
  return {};
}

async function handle(req: Request): Promise<void> {
  try {
    let body: Record<string, unknown>;
    switch (req.op) {
      case 'dht-start':
        body = await dhtStart(req);
        break;
      case 'dht-publish':
        body = await dhtPublish();
        break;
      case 'dht-resolve':
        body = await dhtResolve(req);
        break;
      case 'bind':
        body = await bind(req);
        break;
      case 'connect':
        body = await connect(req);
        break;
      case 'settle':
        body = await settle(req);
        break;
      case 'close':
        body = await close(req);
        break;
    }
    reply(req.id, { op: req.op, ...body });
  } catch (err) {
    reply(req.id, { fatal: `${req.op}: ${(err as Error).stack ?? err}` });
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() !== '') void handle(JSON.parse(line) as Request);
});
lines.on('close', () => {
  void Promise.allSettled([
    ...[...nodes.values()].map((n) => n.sock.close()),
    dhtNode?.close(),
  ]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
