import { parentPort, workerData } from 'node:worker_threads';
import { type Message, MultiHolepunchSocket, type SocketStats, TransportError } from '../index.js';
import {
  type CallRequest,
  type HandedMessage,
  ownBytes,
  type PeersSnapshot,
  type Request,
  type SyncReply,
  type SyncRequest,
  toWireError,
  type WorkerMessage,
  type WorkerStart,
} from './workerprotocol.js';

/**
 * The worker side of the chat's socket (remotesocket.ts is the other): the
 * MultiHolepunchSocket lives here, on an event loop of its own, so rendering
 * the chat never delays the turn in which an ACK is read and the RTT sampled
 * (the chat used to show 8-20 ms on loopback where the library measures
 * 0.3 ms). Requests arrive as messages; events, replies and the 250 ms stats
 * go back as messages.
 */

const port = parentPort;
if (!port) throw new Error('socketworker.ts runs only as a worker thread');
const start = workerData as WorkerStart;
const flag = new Int32Array(start.syncFlag);

let version = 0;
function snapshot(socket: MultiHolepunchSocket): PeersSnapshot {
  return { version: ++version, peers: socket.peers() };
}

/**
 * Messages received this turn, posted together: one structured clone and one
 * wake-up of the main thread per turn, not per message (1,000 msg/s).
 */
let batch: HandedMessage[] = [];

function flushBatch(): void {
  if (batch.length === 0) return;
  port?.postMessage({ type: 'messages', list: batch } satisfies WorkerMessage);
  batch = [];
}

/** Anything else goes after the messages received before it: order is kept. */
function post(m: WorkerMessage): void {
  flushBatch();
  port?.postMessage(m);
}

async function call(socket: MultiHolepunchSocket, r: CallRequest): Promise<void> {
  switch (r.method) {
    case 'send':
      return socket.send(r.args[0], r.args[1]);
    case 'addPeers':
      return socket.addPeers(r.args[0]);
    case 'trustNewKey':
      return socket.trustNewKey(r.args[0]);
    case 'startStun':
      return socket.startStun(r.args[0], r.args[1]);
    case 'keepIdentityFile':
      await socket.keepIdentityFile();
      return;
    case 'close':
      return socket.close();
  }
}

function callSync(socket: MultiHolepunchSocket, r: SyncRequest): string | boolean | undefined {
  switch (r.method) {
    case 'removePeer':
      socket.removePeer(r.args[0]);
      return undefined;
    case 'block':
      socket.block(r.args[0]);
      return undefined;
    case 'unblock':
      socket.unblock(r.args[0]);
      return undefined;
    case 'isBlocked':
      return socket.isBlocked(r.args[0]);
    case 'pinnedFingerprint':
      return socket.pinnedFingerprint(r.args[0]);
    case 'invite':
      return socket.invite(r.args[0]);
  }
}

function answerSync(socket: MultiHolepunchSocket, r: SyncRequest): void {
  let reply: SyncReply;
  try {
    const value = callSync(socket, r);
    reply = { seq: r.seq, ok: true, value, snapshot: snapshot(socket), stats: statsNow(socket) };
  } catch (err) {
    const error = toWireError(err);
    reply = { seq: r.seq, ok: false, error, snapshot: snapshot(socket), stats: statsNow(socket) };
  }
  start.syncPort.postMessage(reply);
  // The caller is blocked in Atomics.wait: the reply is already queued on its port.
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

/** Handed to the main thread and not read there yet; discarded past the limit. */
const unread = { messages: 0, bytes: 0, dropped: 0, droppedBytes: 0, overflowing: false };

function handOver(m: Message): void {
  const size = m.content.length;
  const limit = start.unread;
  if (unread.messages + 1 > limit.messages || unread.bytes + size > limit.bytes) {
    unread.dropped++;
    unread.droppedBytes += size;
    if (!unread.overflowing) {
      unread.overflowing = true;
      const err = new TransportError(
        `the chat is not reading its messages (${limit.messages} messages / ${limit.bytes} bytes unread): ` +
          `discarded acknowledged messages, the first from ${m.peer}; see stats().queueDropped`,
        'receive-queue-full',
      );
      post({ type: 'error', error: toWireError(err) });
    }
    return;
  }
  unread.messages++;
  unread.bytes += size;
  batch.push({
    content: ownBytes(m.content),
    peer: m.peer,
    timestamp: m.timestamp,
    stream: m.stream,
  });
  if (batch.length === 1) setImmediate(flushBatch);
}

/** The main thread's discards are the receive queue's too (socket.ts boundQueue). */
function withUnread(stats: SocketStats): SocketStats {
  return {
    ...stats,
    queueDropped: stats.queueDropped + unread.dropped,
    queueDroppedBytes: stats.queueDroppedBytes + unread.droppedBytes,
  };
}

/** Stats now, for a reply (a closed socket has none to give). */
function statsNow(socket: MultiHolepunchSocket): SocketStats | undefined {
  try {
    return withUnread(socket.stats());
  } catch {
    return undefined;
  }
}

function serve(socket: MultiHolepunchSocket): void {
  socket.on('message', handOver);
  socket.on('peer', (peer, change) =>
    post({ type: 'peer', peer, change, snapshot: snapshot(socket) }),
  );
  socket.on('stun', (info) => post({ type: 'stun', info }));
  // Listening turns the socket's stats tick on (every 250 ms): the panes get
  // pushed figures and never ask across threads per render.
  socket.on('stats', (stats) =>
    post({ type: 'stats', stats: withUnread(stats), snapshot: snapshot(socket) }),
  );
  socket.on('error', (err) => post({ type: 'error', error: toWireError(err) }));
  start.syncPort.on('message', (r: SyncRequest) => answerSync(socket, r));
  port?.on('message', (r: Request) => {
    if (r.type === 'read') {
      unread.messages -= r.messages;
      unread.bytes -= r.bytes;
      if (unread.messages === 0) unread.overflowing = false;
      return;
    }
    // The main thread ends this thread once it has the reply to 'close'.
    // Stats ride on every reply but send's (one per message: the tick is enough there).
    const stats = () => (r.method === 'send' ? {} : { stats: statsNow(socket) });
    call(socket, r).then(
      () => post({ type: 'reply', id: r.id, ok: true, snapshot: snapshot(socket), ...stats() }),
      (err: unknown) =>
        post({
          type: 'reply',
          id: r.id,
          ok: false,
          error: toWireError(err),
          snapshot: snapshot(socket),
          ...stats(),
        }),
    );
  });
  post({
    type: 'ready',
    fingerprint: socket.fingerprint,
    localAddress: socket.localAddress(),
    stats: socket.stats(),
    stunInfo: socket.stunInfo(),
    snapshot: snapshot(socket),
  });
}

MultiHolepunchSocket.bind(start.bind).then(serve, (err: unknown) => {
  post({ type: 'bind-failed', error: toWireError(err) });
  start.syncPort.close();
  port.close();
});
