/**
 * A lab node: runs inside one network namespace (`ip netns exec <ns> node
 * --import tsx test/lab/agent.ts`) and does what the test asks, one JSON
 * request per stdin line, one JSON reply per stdout line (same `id`). It exits
 * when stdin closes. Never reaches outside the lab: it only sends to
 * addresses the test names.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { type Addr, normalizeIp } from '../../source/net/address.js';
import { MultiHolepunchSocket, type PeerInfo } from '../../source/net/socket.js';
import { StunClient } from '../../source/net/stun.js';
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
      if (client.handleResponse(data, from, performance.now()) === 'not-stun') {
        entry.received.push({ from, data: data.toString('utf8') });
      }
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
 * One srmudp-tui node for a pair test: bind, dial the peer if we know its
 * address, and wait for the first connected peer (dialed or a stranger who
 * dialed us); then each side sends one message and waits for the other's.
 */
async function node(req: Extract<Request, { op: 'node' }>): Promise<Record<string, unknown>> {
  const sock = await MultiHolepunchSocket.bind({
    nick: req.nick,
    host: '0.0.0.0',
    port: req.port,
    sendTimeout: req.timeoutMs,
  });
  // Both nodes of a pair start dialing at the same moment, after both bound:
  // otherwise the first handshake may arrive before the other node listens,
  // and the time to connect would measure the harness, not the transport.
  const t0 = Math.max(performance.now(), req.startAt - performance.timeOrigin);
  await new Promise((r) => setTimeout(r, t0 - performance.now()));
  const deadline = t0 + req.timeoutMs;
  const out = {
    connected: false,
    connectMs: undefined as number | undefined,
    received: false,
    acked: false,
    peerAddress: undefined as string | undefined,
    state: '',
    error: undefined as string | undefined,
    exchangeMs: undefined as number | undefined,
    closeMs: undefined as number | undefined,
  };
  try {
    const first = new Promise<PeerInfo | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), deadline - performance.now());
      sock.on('peer', (info) => {
        if (info.state.kind !== 'connected') return;
        clearTimeout(timer);
        resolve(info);
      });
    });
    if (req.peer) await sock.addPeers({ [req.peer.nick]: req.peer.address });
    const peer = await first;
    const peerNick = peer?.nick;
    if (peer) {
      out.connected = true;
      out.connectMs = Math.round(performance.now() - t0);
      out.peerAddress = peer.address;
    }
    if (peerNick) {
      const left = () => Math.max(1, deadline - performance.now());
      const [sent, got] = await Promise.allSettled([
        sock.send(`hello from ${req.nick}`, { recipient: peerNick, timeout: left() }),
        sock.receive({ timeout: left() }),
      ]);
      out.acked = sent.status === 'fulfilled';
      if (sent.status === 'rejected') out.error = String(sent.reason);
      out.received = got.status === 'fulfilled' && got.value !== null;
      out.exchangeMs = Math.round(performance.now() - t0);
      // Linger so our ACK of the peer's message leaves before close(): today
      // close() does not flush pending ACKs, and the peer's send() would then
      // wait for its timeout (see the lab report).
      await new Promise((r) => setTimeout(r, 300));
    }
    out.state = sock
      .peers()
      .map((p) => `${p.nick}@${p.address ?? '?'}:${p.state.kind}`)
      .join(' ');
  } catch (err) {
    out.error = String(err);
  } finally {
    const c0 = performance.now();
    await sock.close();
    out.closeMs = Math.round(performance.now() - c0);
  }
  return out;
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
      case 'node':
        body = await node(req);
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
  process.exit(0);
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
