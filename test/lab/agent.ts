/**
 * A lab node: runs inside one network namespace (`ip netns exec <ns> node
 * --import tsx test/lab/agent.ts`) and does what the test asks, one JSON
 * request per stdin line, one JSON reply per stdout line (same `id`). It exits
 * when stdin closes. Never reaches outside the lab: its namespace has only
 * lab interfaces, and it sends only to addresses the test names, candidates
 * in lab invite codes (STUN-reflexive, 10.x and 127.0.0.1) and addresses
 * peers introduce (their lab addresses). STUN goes only to the lab's servers.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { type Addr, addrKey, normalizeIp, parseHostPort } from '../../source/net/core/address.js';
import { decodeInvite, encodeInvite } from '../../source/net/nat/invite.js';
import { StunClient } from '../../source/net/nat/stun.js';
import { isStun } from '../../source/net/nat/stun-codec.js';
import { type Message, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import type { AgentRequest } from './lab.js';

type Request = AgentRequest & { id: number };

const sockets = new Map<
  number,
  { socket: dgram.Socket; received: { from: Addr; data: string }[] }
>();

function reply(id: number, body: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...body, id })}\n`);
}

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '0.0.0.0', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** STUN from a plain UDP socket, driven by StunClient; the socket stays open for `collect`. */
async function stun(req: Extract<Request, { op: 'stun' }>): Promise<Record<string, unknown>> {
  const socket = await bindUdp(req.port);
  const entry = { socket, received: [] as { from: Addr; data: string }[] };
  sockets.set(req.port, entry);
  const client = new StunClient({ rto: req.rto ?? 200, maxTransmits: req.maxTransmits ?? 4 });
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    for (let t = client.pollTransmit(); t; t = client.pollTransmit()) {
      socket.send(t.data, t.to.port, t.to.address);
    }
    if (timer) clearTimeout(timer);
    const at = client.nextDeadline();
    if (at !== undefined) {
      timer = setTimeout(
        () => {
          client.handleTimeout(performance.now());
          flush();
        },
        Math.max(0, at - performance.now()),
      );
    }
  };
  const done = new Promise<void>((resolve) => {
    socket.on('message', (data, rinfo) => {
      const from = { address: normalizeIp(rinfo.address), port: rinfo.port };
      if (isStun(data)) client.handleResponse(data, from, performance.now());
      else entry.received.push({ from, data: data.toString('utf8') });
      flush();
      if (client.done) resolve();
    });
    const poll = setInterval(() => {
      if (client.done) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
  });
  client.start(req.servers, performance.now());
  flush();
  await done;
  if (timer) clearTimeout(timer);
  const s = client.summary();
  const local = socket.address();
  return {
    local: { address: local.address, port: local.port },
    mapped: s.mapped,
    behaviour: s.behaviour,
    results: s.results,
  };
}

async function collect(req: Extract<Request, { op: 'collect' }>): Promise<Record<string, unknown>> {
  const entry = sockets.get(req.port);
  if (!entry) return { received: [] };
  await new Promise((r) => setTimeout(r, req.waitMs));
  sockets.delete(req.port);
  entry.socket.close();
  return { received: entry.received };
}

async function sendUdp(
  req: Extract<Request, { op: 'send-udp' }>,
): Promise<Record<string, unknown>> {
  const socket = await bindUdp(0);
  for (let i = 0; i < req.count; i++) {
    await new Promise<void>((resolve) =>
      socket.send(Buffer.from(req.data), req.to.port, req.to.address, () => resolve()),
    );
    await new Promise((r) => setTimeout(r, 20));
  }
  const port = socket.address().port;
  socket.close();
  return { sentFrom: port };
}

/**
 * srmudp-tui nodes, one or more per agent, each kept open across requests:
 * `bind` (with the lab's STUN servers; replies once STUN is done, with the
 * node's invite code), `connect` (add peers at an agreed instant, wait for
 * the expected keys, exchange one message each way), `close`.
 */
interface LabNode {
  sock: MultiHolepunchSocket;
  nick: string;
  messages: Message[];
}
const nodes = new Map<number, LabNode>();
let nextHandle = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function bindNode(req: Extract<Request, { op: 'bind' }>): Promise<Record<string, unknown>> {
  const sock = await MultiHolepunchSocket.bind({
    nick: req.nick,
    host: '0.0.0.0',
    port: req.port,
    stun: req.stun,
    stunRto: 100,
    sendTimeout: 10_000,
    ...(req.relays ? { relays: req.relays } : {}),
  });
  const handle = nextHandle++;
  const node: LabNode = { sock, nick: req.nick, messages: [] };
  nodes.set(handle, node);
  // Collect from the start: a message may arrive before `connect` asks.
  sock.on('message', (m) => node.messages.push(m));
  const errors: string[] = [];
  sock.on('error', (e) => errors.push(e.message));
  const t0 = performance.now();
  while (!sock.stunInfo()?.done && performance.now() - t0 < req.stunTimeoutMs) await sleep(10);
  const stunMs = Math.round(performance.now() - t0);
  const stun = sock.stunInfo();
  // With relays: the invite code carries the relayed candidate once allocated.
  const allocating = () => ['idle', 'allocating'].includes(sock.stats().relay?.state ?? 'none');
  const r0 = performance.now();
  if (req.relays)
    while (allocating() && performance.now() - r0 < (req.relayTimeoutMs ?? 4000)) await sleep(10);
  const relayMs = Math.round(performance.now() - r0);
  const code = sock.invite();
  const invite = decodeInvite(code);
  const inviteAddrs = invite.addrs.map(addrKey);
  // Issue 5: the STUN-reflexive address is the invite's first candidate.
  // When the transport leaves it out, build the code issue 5 describes from
  // the same key and nick, and say so (the test prints it).
  const reflexive = stun?.publicAddress;
  const reflexiveFirst = reflexive !== undefined && inviteAddrs[0] === reflexive;
  let labCode = code;
  if (reflexive !== undefined && !inviteAddrs.includes(reflexive)) {
    const { host, port } = parseHostPort(reflexive);
    labCode = encodeInvite({ ...invite, addrs: [{ address: host, port }, ...invite.addrs] });
  }
  return {
    handle,
    fingerprint: sock.fingerprint,
    local: addrKey(sock.localAddress()),
    stun,
    stunMs,
    stunErrors: errors,
    invite: code,
    inviteAddrs,
    reflexiveFirst,
    code: labCode,
    ...(req.relays
      ? {
          relay: sock.stats().relay,
          relayMs,
          inviteRelayed: (invite.relayed ?? []).map(addrKey),
        }
      : {}),
  };
}

/**
 * Adds `peers` at `startAt` (epoch ms, the clock both agents share), then
 * waits until every expected key is connected or unreachable (or the
 * deadline); then sends one message to each connected expected peer in
 * `exchange` and waits for one from it.
 */
async function connectNode(
  req: Extract<Request, { op: 'connect' }>,
): Promise<Record<string, unknown>> {
  const node = nodes.get(req.handle);
  if (!node) throw new Error(`no node ${req.handle}`);
  const { sock } = node;
  const t0 = Math.max(performance.now(), req.startAt - performance.timeOrigin);
  await sleep(t0 - performance.now());
  const deadline = t0 + req.timeoutMs;
  const find = (fp: string) => sock.peers().find((p) => p.fingerprint === fp);
  const connectedAt = new Map<string, number>();
  const pathAtConnect = new Map<string, string>();
  const settled = () =>
    req.expect.every((fp) => {
      const p = find(fp);
      if (p?.state.kind === 'connected' && !connectedAt.has(fp)) {
        connectedAt.set(fp, Math.round(performance.now() - t0));
        pathAtConnect.set(fp, p.stats.path);
      }
      return p !== undefined && p.state.kind !== 'connecting';
    });
  let error: string | undefined;
  try {
    if (Object.keys(req.peers).length > 0) await sock.addPeers(req.peers);
    while (!settled() && performance.now() < deadline) await sleep(5);
  } catch (err) {
    error = String(err);
  }
  const results = await Promise.all(
    req.expect.map(async (fp) => {
      const p = find(fp);
      const out = {
        fingerprint: fp,
        nick: p?.nick,
        address: p?.address,
        state: p?.state.kind ?? 'absent',
        reason:
          p?.state.kind === 'unreachable' || p?.state.kind === 'disconnected'
            ? p.state.reason
            : undefined,
        connectMs: connectedAt.get(fp),
        acked: false,
        received: false,
        sendError: undefined as string | undefined,
        bulkAcked: undefined as boolean | undefined,
        bulkReceived: undefined as boolean | undefined,
        mtu: p?.stats.mtu,
        pathAtConnect: pathAtConnect.get(fp),
        path: p?.stats.path,
        pathSwitches: p?.stats.pathSwitches,
        canariesReceived: undefined as number | undefined,
      };
      if (p?.state.kind !== 'connected' || !req.exchange.includes(fp)) return out;
      const [sent, got] = await Promise.allSettled([
        sock.send(`hello from ${node.nick}`, {
          recipient: p.nick,
          timeout: Math.max(1, deadline - performance.now()),
        }),
        (async () => {
          while (performance.now() < deadline) {
            if (node.messages.some((m) => m.peer === p.nick)) return true;
            await sleep(5);
          }
          return false;
        })(),
      ]);
      out.acked = sent.status === 'fulfilled';
      if (sent.status === 'rejected') out.sendError = String(sent.reason);
      out.received = got.status === 'fulfilled' && got.value;
      if (req.bulk) Object.assign(out, await exchangeBulk(node, p.nick, req.bulk, deadline));
      if (req.canaries)
        out.canariesReceived = await exchangeCanaries(node, p.nick, req.canaries, deadline);
      const end = find(fp);
      out.mtu = end?.stats.mtu;
      out.path = end?.stats.path;
      out.pathSwitches = end?.stats.pathSwitches;
      return out;
    }),
  );
  return {
    results,
    error,
    probeSockets: sock.probeSocketCount,
    relay: sock.stats().relay,
    peers: sock
      .peers()
      .map((p) => `${p.nick}@${p.address ?? '?'}:${p.state.kind}`)
      .join(' '),
  };
}

/** `bulk.messages` of `bulk.bytes` to `nick`, one at a time, and as many from it. */
async function exchangeBulk(
  node: LabNode,
  nick: string,
  bulk: { messages: number; bytes: number },
  deadline: number,
): Promise<{ bulkAcked: boolean; bulkReceived: boolean; sendError?: string }> {
  const body = Buffer.alloc(bulk.bytes, 0x5a);
  let bulkAcked = true;
  let sendError: string | undefined;
  for (let i = 0; i < bulk.messages && bulkAcked; i++) {
    try {
      await node.sock.send(body, {
        recipient: nick,
        timeout: Math.max(1, deadline - performance.now()),
      });
    } catch (err) {
      bulkAcked = false;
      sendError = String(err);
    }
  }
  const theirs = () =>
    node.messages.filter((m) => m.peer === nick && m.content.equals(body)).length;
  while (theirs() < bulk.messages && performance.now() < deadline) await sleep(5);
  return {
    bulkAcked,
    bulkReceived: theirs() >= bulk.messages,
    ...(sendError ? { sendError } : {}),
  };
}

/**
 * Sends each canary to `nick` (all at once: they are small), then waits for
 * the ones it sends us; returns how many distinct canaries arrived from it.
 */
async function exchangeCanaries(
  node: LabNode,
  nick: string,
  canaries: string[],
  deadline: number,
): Promise<number> {
  const timeout = Math.max(1, deadline - performance.now());
  await Promise.allSettled(canaries.map((c) => node.sock.send(c, { recipient: nick, timeout })));
  const wanted = new Set(canaries);
  const arrived = () =>
    new Set(
      node.messages
        .filter((m) => m.peer === nick)
        .map((m) => m.content.toString('utf8'))
        .filter((t) => wanted.has(t)),
    ).size;
  while (arrived() < canaries.length && performance.now() < deadline) await sleep(5);
  return arrived();
}

/**
 * Sends a numbered message to the peer every `sendEveryMs` until its
 * session's path is `until` (or the timeout), then waits for those sends'
 * acknowledgements (up to the same timeout again).
 */
async function watchPath(
  req: Extract<Request, { op: 'watch-path' }>,
): Promise<Record<string, unknown>> {
  const node = nodes.get(req.handle);
  if (!node) throw new Error(`no node ${req.handle}`);
  const find = () => node.sock.peers().find((p) => p.fingerprint === req.fingerprint);
  const t0 = performance.now();
  const pathAtStart = find()?.stats.path;
  const sends: Promise<boolean>[] = [];
  let nextSend = t0;
  let ms: number | undefined;
  let reachedAt: number | undefined;
  let leftAfter: number | undefined;
  for (;;) {
    const now = performance.now();
    const p = find();
    if (reachedAt === undefined) {
      if (now - t0 >= req.timeoutMs) break;
      if (p?.stats.path === req.until) {
        reachedAt = now;
        ms = Math.round(now - t0);
      }
    } else {
      if (now - reachedAt >= (req.holdMs ?? 0)) break;
      if (p?.stats.path !== req.until && leftAfter === undefined)
        leftAfter = Math.round(now - reachedAt);
    }
    if (p && now >= nextSend) {
      nextSend += req.sendEveryMs;
      sends.push(
        node.sock
          .send(`watch #${sends.length}`, { recipient: p.nick, timeout: req.timeoutMs })
          .then(
            () => true,
            () => false,
          ),
      );
    }
    await sleep(5);
  }
  const acked = (await Promise.all(sends)).filter(Boolean).length;
  const p = find();
  return {
    ms,
    pathAtStart,
    ...(leftAfter !== undefined ? { leftAfter } : {}),
    path: p?.stats.path,
    pathSwitches: p?.stats.pathSwitches,
    sent: sends.length,
    acked,
  };
}

async function closeNode(req: Extract<Request, { op: 'close' }>): Promise<Record<string, unknown>> {
  const node = nodes.get(req.handle);
  if (!node) return { closeMs: 0 };
  nodes.delete(req.handle);
  const c0 = performance.now();
  await node.sock.close();
  return { closeMs: Math.round(performance.now() - c0) };
}

async function handle(req: Request): Promise<void> {
  try {
    let body: Record<string, unknown>;
    switch (req.op) {
      case 'stun':
        body = await stun(req);
        break;
      case 'collect':
        body = await collect(req);
        break;
      case 'send-udp':
        body = await sendUdp(req);
        break;
      case 'bind':
        body = await bindNode(req);
        break;
      case 'connect':
        body = await connectNode(req);
        break;
      case 'watch-path':
        body = await watchPath(req);
        break;
      case 'close':
        body = await closeNode(req);
        break;
    }
    reply(req.id, { op: req.op, ...body });
  } catch (err) {
    reply(req.id, { fatal: `${req.op}: ${(err as Error).stack ?? err}` });
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  void handle(JSON.parse(line) as Request);
});
lines.on('close', () => {
  for (const { socket } of sockets.values()) socket.close();
  void Promise.allSettled([...nodes.values()].map((n) => n.sock.close())).then(() =>
    process.exit(0),
  );
  // Never linger: the lab kills what is left, but exit on our own first.
  setTimeout(() => process.exit(0), 1000).unref();
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
