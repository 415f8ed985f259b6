import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCommand } from '../../source/chat/commands.js';
import { ChatController, type ChatSocket } from '../../source/chat/controller.js';
import { type ChatLine, formatChatLine } from '../../source/chat/format.js';
import { createLineMode } from '../../source/chat/linemode.js';
import { decodeChat, encodeChat } from '../../source/chat/protocol.js';
import { TransportError, UsageError } from '../../source/net/core/errors.js';
import type {
  PeerInfo,
  SendOptions,
  SocketEvents,
  StunInfo,
} from '../../source/net/shell/socket.js';
import { peer } from '../ui/fixtures.js';

const FP_BOB = 'rhpvxvglnj77cxqvsswne6u3qob37r5fjkzxqh6fcnytl4mjweza';
const FP_EVE = 'hoedrikisoul3m6khpwsumlphenbfvvnw5gvu6gityzcxqzy4daq';

/** A peer as a freshly added one looks (no traffic yet). */
function info(nick: string, over: Partial<PeerInfo> = {}): PeerInfo {
  return peer(
    nick,
    { fingerprint: FP_BOB, state: { kind: 'connected', since: 0 }, ...over },
    {
      packetsSent: 0,
      packetsReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      packetsLost: 0,
      retransmits: 0,
      smoothedRtt: undefined,
      minRtt: undefined,
      rttVariance: undefined,
      lossRate: 0,
      congestionWindow: undefined,
      mtu: undefined,
      lastSeen: undefined,
    },
  );
}

/** Just enough of MultiHolepunchSocket, recording what the chat asks of it. */
class FakeSocket extends EventEmitter<SocketEvents> {
  readonly fingerprint = 'x'.repeat(52);
  list: PeerInfo[] = [];
  sent: { content: Buffer; opts: SendOptions | undefined; settle: (err?: Error) => void }[] = [];
  added: Record<string, string>[] = [];
  removed: string[] = [];
  blocked: string[] = [];
  unblocked: string[] = [];
  trusted: string[] = [];
  closed = false;
  stun: StunInfo | undefined;
  invitesMade = 0;

  send(content: string | Uint8Array, opts?: SendOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sent.push({
        content: Buffer.from(content),
        opts,
        settle: (err) => (err ? reject(err) : resolve()),
      });
    });
  }
  peers(): PeerInfo[] {
    return this.list;
  }
  async addPeers(peers: Record<string, string>): Promise<void> {
    if (Object.keys(peers).includes('unresolvable')) throw new UsageError('cannot resolve "x"');
    this.added.push(peers);
    for (const nick of Object.keys(peers)) {
      this.list.push(info(nick, { state: { kind: 'connecting', since: 0, attempt: 0 } }));
    }
  }
  removePeer(nick: string): void {
    this.removed.push(nick);
    this.list = this.list.filter((p) => p.nick !== nick);
  }
  block(fp: string): void {
    this.blocked.push(fp);
  }
  unblock(fp: string): void {
    this.unblocked.push(fp);
  }
  async trustNewKey(nick: string): Promise<void> {
    this.trusted.push(nick);
  }
  stunInfo(): StunInfo | undefined {
    return this.stun;
  }
  invite(): string {
    this.invitesMade++;
    return `srmudp1:code-${this.stun?.publicAddress ?? 'local'}`;
  }
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sent) s.settle(new TransportError('socket closed', 'closed'));
  }
}

let dir: string;
let socket: FakeSocket;
let lines: ChatLine[];
let chat: ChatController;
const text = () => lines.map(formatChatLine).join('\n');
const run = (line: string) => chat.execute(parseCommand(line));
const flush = () => new Promise((r) => setImmediate(r));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-chat-'));
  socket = new FakeSocket();
  lines = [];
  chat = new ChatController(socket as unknown as ChatSocket, {
    nick: 'alice',
    print: (l) => lines.push(l),
    cwd: dir,
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ChatController', () => {
  it('/invite shows the code at once without STUN, and waits for a STUN round in progress', async () => {
    await run('/invite');
    expect(text()).toContain('srmudp1:code-local');
    expect(text()).not.toContain('asking STUN');
    lines.length = 0;
    socket.stun = { publicAddress: undefined, mapping: 'unknown', done: false };
    const pending = run('/invite');
    await flush();
    expect(text()).toContain('asking STUN for your public address first');
    expect(socket.invitesMade).toBe(1);
    socket.stun = {
      publicAddress: '203.0.113.7:4000',
      mapping: 'endpoint-independent',
      done: false,
    };
    socket.emit('stun', socket.stun);
    await flush();
    expect(socket.invitesMade).toBe(1); // not done yet
    socket.stun = { ...socket.stun, done: true };
    socket.emit('stun', socket.stun);
    await pending;
    expect(text()).toContain('srmudp1:code-203.0.113.7:4000');
    expect(socket.listenerCount('stun')).toBe(0);
  });

  it('broadcasts to connected peers, echoing our line; refuses when nobody is connected', async () => {
    await run('hello');
    expect(socket.sent).toHaveLength(0);
    expect(text()).toMatch(/nobody is connected/);
    socket.list = [info('bob')];
    await run('hello');
    expect(socket.sent).toHaveLength(1);
    expect(socket.sent[0]!.opts).toBeUndefined();
    expect(decodeChat(socket.sent[0]!.content)).toEqual({ text: 'hello', private: false });
    expect(text()).toMatch(/<alice> hello/);
    socket.sent[0]!.settle(new TransportError('not acknowledged within 1 ms by: bob', 'timeout'));
    await flush();
    expect(text()).toMatch(/!! not delivered: not acknowledged within 1 ms by: bob/);
  });

  it('sends private messages and reports delivery or failure', async () => {
    socket.list = [info('bob')];
    await run('/msg bob psst');
    expect(socket.sent[0]!.opts).toEqual({ recipient: 'bob' });
    expect(decodeChat(socket.sent[0]!.content)).toEqual({ text: 'psst', private: true });
    expect(text()).toMatch(/\(private\) <alice> -> bob: psst/);
    socket.sent[0]!.settle();
    await flush();
    expect(text()).toMatch(/delivered to bob/);
    await run('/msg bob again');
    socket.sent[1]!.settle(new TransportError('bob: removed before acknowledging', 'x'));
    await flush();
    expect(text()).toMatch(/message to bob failed: bob: removed/);
    await run('/msg carol hi');
    expect(text()).toMatch(/unknown peer "carol"/);
    expect(socket.sent).toHaveLength(2);
  });

  it('shows incoming messages sanitized, private ones marked', () => {
    socket.emit('message', {
      content: encodeChat({ text: 'hi \u001b]52;c;aGk=\u0007', private: false }),
      peer: 'bob',
      timestamp: Date.now(),
      stream: 0,
    });
    socket.emit('message', {
      content: encodeChat({ text: 'secret', private: true }),
      peer: 'bob',
      timestamp: Date.now(),
      stream: 0,
    });
    expect(lines.map(formatChatLine)[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\] <bob> hi \\x1b]52;c;aGk=\\x07$/,
    );
    expect(lines.map(formatChatLine)[1]).toMatch(/\(private\) <bob> secret$/);
  });

  it('adds, lists, removes and explains unknown peers', async () => {
    await run('/list');
    expect(text()).toMatch(/no peers yet/);
    await run('/add bob 127.0.0.1:9000');
    expect(socket.added).toEqual([{ bob: '127.0.0.1:9000' }]);
    expect(text()).toMatch(/connecting to bob at 127\.0\.0\.1:9000/);
    await run('/list');
    expect(text()).toMatch(/bob\s+127\.0\.0\.1:9000\s+connecting/);
    await run('/whois bob');
    expect(text()).toContain(FP_BOB);
    await run('/remove bob');
    expect(socket.removed).toEqual(['bob']);
    await run('/remove bob');
    expect(text()).toMatch(/unknown peer "bob"/);
    await run('/add unresolvable 127.0.0.1:1');
    expect(text()).toMatch(/!! cannot resolve/);
  });

  it('/whois says since when a peer is connected, by our clock', async () => {
    socket.list = [info('bob')];
    socket.emit('peer', info('bob'), 'connected');
    await run('/whois bob');
    expect(text()).toMatch(/connected\s+since \d\d:\d\d:\d\d/);
  });

  it('reports joins, leaves and key changes', () => {
    socket.emit('peer', info('bob', { pinned: false }), 'connected');
    socket.emit(
      'peer',
      info('bob', { state: { kind: 'disconnected', since: 0, reason: 'closed by peer' } }),
      'disconnected',
    );
    const mismatch = info('bob', {
      state: { kind: 'key-mismatch', since: 0, expected: FP_BOB, got: FP_EVE },
    });
    socket.emit('peer', mismatch, 'state');
    socket.emit('peer', mismatch, 'state');
    socket.emit('error', new TransportError('something \u001b[2J odd', 'protocol'));
    socket.emit('error', new TransportError('something \u001b[2J odd', 'protocol'));
    const out = text();
    expect(out).toMatch(/bob connected from 127\.0\.0\.1:9000 \(it added us\), key rhpvxvgl/);
    expect(out).toMatch(/bob left: disconnected: closed by peer/);
    expect(out.match(/key changed/g)).toHaveLength(1);
    expect(out).toContain(FP_EVE);
    expect(out).toMatch(/\/trust bob/);
    expect(out.match(/something \\x1b\[2J odd/g)).toHaveLength(1);
  });

  it('drops a peer whose key differs from the peers file', async () => {
    const path = join(dir, 'peers.json');
    await writeFile(
      path,
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [{ nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP_EVE }],
      }),
    );
    await run('/load peers.json');
    expect(socket.added).toEqual([{ bob: '127.0.0.1:9000' }]);
    expect(text()).toMatch(/loaded 1 peer from/);
    socket.emit('peer', info('bob'), 'connected');
    expect(socket.removed).toEqual(['bob']);
    expect(text()).toMatch(/but the peers file says/);
    await run('/load missing.json');
    expect(text()).toMatch(/missing\.json does not exist/);
  });

  it('reports a peers-file key that differs from a pinned one and keeps the pinned key', async () => {
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      pinnedFingerprint: (nick) => (nick === 'bob' ? FP_BOB : undefined),
    });
    await chat.addEntries([{ nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP_EVE }]);
    expect(text()).toContain(
      `names key ${FP_EVE} for bob, but ${FP_BOB} is pinned: keeping the pinned key`,
    );
    // bob answering with the pinned key is fine; eve's key would be dropped.
    socket.emit('peer', info('bob'), 'connected');
    expect(socket.removed).toEqual([]);
  });

  it('reports each own message’s delivery by id when asked to', async () => {
    const reports: [number, string, string | undefined][] = [];
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      onDelivery: (id, state, detail) => reports.push([id, state, detail]),
    });
    socket.list = [info('bob')];
    await run('hello');
    await run('/msg bob psst');
    const ids = lines.flatMap((l) => (l.kind === 'message' && l.id !== undefined ? [l.id] : []));
    expect(ids).toHaveLength(2);
    socket.sent[1]!.settle();
    socket.sent[0]!.settle(new TransportError('timed out', 'timeout'));
    await flush();
    expect(reports).toEqual([
      [ids[1], 'delivered', undefined],
      [ids[0], 'failed', 'timed out'],
    ]);
    expect(text()).not.toMatch(/delivered to bob/);
  });

  it('saves the peer list it can (with fingerprints) and loads it back', async () => {
    socket.list = [info('bob'), info('carol', { address: undefined, fingerprint: undefined })];
    await run('/save out.json');
    expect(text()).toMatch(/saved 1 peer to .*out\.json \(1 without a known address left out\)/);
    const saved = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8'));
    expect(saved.peers).toEqual([{ nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP_BOB }]);
  });

  it('blocks by nick or fingerprint and unblocks by either', async () => {
    socket.list = [info('bob'), info('new', { fingerprint: undefined })];
    await run('/block bob');
    expect(socket.blocked).toEqual([FP_BOB]);
    await run('/unblock bob');
    expect(socket.unblocked).toEqual([FP_BOB]);
    await run(`/block ${FP_EVE}`);
    expect(socket.blocked).toEqual([FP_BOB, FP_EVE]);
    await run('/block new');
    expect(text()).toMatch(/its key is not known/);
    await run('/unblock carol');
    expect(text()).toMatch(/was not blocked here/);
    await run('/trust bob');
    expect(socket.trusted).toEqual(['bob']);
  });

  it('help lists every command; quit and clear are for the front end', async () => {
    await run('/help');
    for (const c of ['/add', '/msg', '/list', '/save', '/load', '/whois', '/trust', '/quit']) {
      expect(text()).toContain(c);
    }
    expect(await run('/quit')).toBe('quit');
    expect(await run('/clear')).toBe('clear');
    expect(await run('')).toBeUndefined();
  });

  it('shutdown waits briefly for unacknowledged sends, then closes', async () => {
    socket.list = [info('bob')];
    await run('/msg bob bye');
    expect(chat.pendingSends).toBe(1);
    // Fake timers: the grace period is checked on the fake clock, not measured.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let done = false;
    const closing = chat.shutdown(50).then(() => {
      done = true;
    });
    try {
      await vi.advanceTimersByTimeAsync(49);
      expect(socket.closed).toBe(false);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await closing;
    } finally {
      vi.useRealTimers();
    }
    expect(socket.closed).toBe(true);
    expect(text()).toMatch(/message to bob failed: socket closed/);
    expect(chat.pendingSends).toBe(0);
  });
});

describe('line mode', () => {
  it('runs piped lines in order, prints sanitized lines and ends on /quit with 0', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    const mode = createLineMode({ input, output, graceMs: 10 });
    const controller = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: mode.print,
    });
    const running = mode.start(controller);
    socket.list = [info('bob')];
    input.write('/add carol 127.0.0.1:9001\nhello\n/bogus\n');
    socket.emit('message', {
      content: encodeChat({ text: '\u001b[2Jgotcha', private: false }),
      peer: 'bob',
      timestamp: Date.now(),
      stream: 0,
    });
    input.write('/quit\nnot run\n');
    expect(await running.done).toBe(0);
    expect(socket.closed).toBe(true);
    expect(socket.added).toEqual([{ carol: '127.0.0.1:9001' }]);
    expect(socket.sent).toHaveLength(1);
    expect(out).toMatch(/<alice> hello/);
    expect(out).toMatch(/unknown command "\/bogus"/);
    expect(out).toMatch(/<bob> \\x1b\[2Jgotcha/);
    expect(out).not.toContain('\u001b');
    expect(out).not.toContain('not run');
  });

  it('ends with 0 at the end of input', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const mode = createLineMode({ input, output, graceMs: 10 });
    const controller = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: mode.print,
    });
    const running = mode.start(controller);
    input.end('/list\n');
    expect(await running.done).toBe(0);
    expect(socket.closed).toBe(true);
  });
});
