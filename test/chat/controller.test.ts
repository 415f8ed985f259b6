import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCommand } from '../../source/chat/commands/index.js';
import { ChatController, type ChatSocket } from '../../source/chat/controller.js';
import { type ChatLine, formatChatLine } from '../../source/chat/format.js';
import { decodeChat, encodeChat } from '../../source/chat/protocol.js';
import { TransportError } from '../../source/net/core/errors.js';
import type { PeerInfo } from '../../source/net/shell/socket.js';
import { FakeSocket, FP_BOB, FP_EVE, info } from './fakesocket.js';

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
    // One send per recipient, so each one's acknowledgement is its own.
    expect(socket.sent[0]!.opts).toEqual({ recipient: 'bob' });
    expect(decodeChat(socket.sent[0]!.content)).toEqual({ text: 'hello', private: false });
    expect(text()).toMatch(/<alice> hello/);
    socket.sent[0]!.settle(new TransportError('not acknowledged within 1 ms by: bob', 'timeout'));
    await flush();
    expect(text()).toMatch(
      /!! ✗ "hello" not delivered to bob: not acknowledged within 1 ms by: bob/,
    );
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
    socket.sent[1]!.settle(
      new TransportError('bob: removed before acknowledging', 'undeliverable'),
    );
    await flush();
    expect(text()).toMatch(/✗ "again" not delivered to bob: removed before acknowledging/);
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

  it("marks a stranger's lines, never a friend's (a look-alike cannot pass for one)", () => {
    socket.emit('peer', info('b\u043eb-6rk4xxtd', { pinned: false }), 'connected');
    socket.emit('peer', info('bob', { pinned: true }), 'connected');
    const say = (peer: string, text: string) =>
      socket.emit('message', {
        content: encodeChat({ text, private: false }),
        peer,
        timestamp: Date.now(),
        stream: 0,
      });
    say('b\u043eb-6rk4xxtd', 'trust me');
    say('bob', 'hello');
    const shown = lines.map(formatChatLine).filter((l) => / <.*> /.test(l));
    expect(shown[0]).toMatch(/\(stranger\) <b\u043eb-6rk4xxtd> trust me$/);
    expect(shown[1]).toMatch(/\] <bob> hello$/);
  });

  it('adding a stranger connected from the address given says it is connected, not "connecting"', async () => {
    socket.list = [info('bob', { pinned: false, address: '127.0.0.1:9000' })];
    socket.emit('peer', socket.list[0]!, 'connected');
    await run('/add bob 127.0.0.1:9000');
    expect(socket.added).toEqual([{ bob: '127.0.0.1:9000' }]);
    expect(text()).toMatch(/bob added: already connected from 127\.0\.0\.1:9000, key \w{8}/);
    expect(text()).not.toMatch(/connecting to bob/);
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

  it('says who introduced a peer, and "(it added us)" only for one that dialed us', () => {
    socket.emit('peer', info('carol', { pinned: false, introducedBy: 'bob' }), 'connected');
    socket.emit('peer', info('dave', { pinned: false }), 'connected');
    socket.emit('peer', info('erin', { pinned: true }), 'connected');
    expect(text()).toMatch(/carol connected from 127\.0\.0\.1:9000 \(introduced by bob\), key/);
    expect(text()).toMatch(/dave connected from 127\.0\.0\.1:9000 \(it added us\), key/);
    expect(text()).toMatch(/erin connected from 127\.0\.0\.1:9000, key/);
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
      info('bob', {
        state: {
          kind: 'disconnected',
          since: 0,
          reason: 'closed by peer',
          cause: { kind: 'remote', code: 0 },
        },
      }),
      'disconnected',
    );
    const mismatch = info('bob', {
      state: { kind: 'key-mismatch', since: 0, expected: FP_BOB, got: FP_EVE },
    });
    socket.emit('peer', mismatch, 'state');
    socket.emit(
      'error',
      new TransportError(
        `bob at 127.0.0.1:9000 answered with key ${FP_EVE}, but bob is pinned to ${FP_BOB}: refused.`,
        'key-mismatch',
      ),
    );
    socket.emit('peer', mismatch, 'state');
    socket.emit('error', new TransportError('something \u001b[2J odd', 'protocol'));
    socket.emit('error', new TransportError('something \u001b[2J odd', 'protocol'));
    const out = text();
    expect(out).toMatch(/bob connected from 127\.0\.0\.1:9000 \(it added us\), key rhpvxvgl/);
    // The transport's reason says it all; no "disconnected:" before it.
    expect(out).toMatch(/bob left: closed by peer$/m);
    expect(out.match(/key changed/g)).toHaveLength(1);
    // One line for one key change (the transport's error is not a second one).
    expect(out.split('\n').filter((l) => l.includes(FP_EVE))).toHaveLength(1);
    expect(out).toMatch(/\/trust bob/);
    expect(out.match(/something \\x1b\[2J odd/g)).toHaveLength(1);
  });

  it('/load gives the transport the key a peers file names, so only that key is accepted', async () => {
    const path = join(dir, 'peers.json');
    await writeFile(
      path,
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [
          { nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP_EVE },
          { nick: 'carol', address: '127.0.0.1:9001' },
        ],
      }),
    );
    await run('/load peers.json');
    expect(socket.added).toEqual([
      { bob: { address: '127.0.0.1:9000', fingerprint: FP_EVE } },
      { carol: '127.0.0.1:9001' },
    ]);
    expect(text()).toMatch(/loaded 2 peers from/);
    await run('/load missing.json');
    expect(text()).toMatch(/missing\.json does not exist/);
  });

  it('a peers-file key that differs from the pin is an error line; the pin is kept, the rest added', async () => {
    socket.pins.set('bob', FP_BOB);
    const added = await chat.addEntries([
      { nick: 'bob', address: '127.0.0.1:9000', fingerprint: FP_EVE },
      { nick: 'carol', address: '127.0.0.1:9001', fingerprint: FP_BOB.replace('r', 'a') },
      { nick: 'dave', address: '127.0.0.1:9002' },
    ]);
    expect(added).toEqual(['carol', 'dave']);
    expect(text()).toContain(
      `names key ${FP_EVE} for bob, but ${FP_BOB} is pinned: keeping the pinned key`,
    );
    expect(socket.added.map((a) => Object.keys(a)[0])).toEqual(['carol', 'dave']);
    expect(socket.pins.get('bob')).toBe(FP_BOB);
  });

  it('a UsageError from the transport for one entry is reported and the others are added', async () => {
    const added = await chat.addEntries([
      { nick: 'unresolvable', address: 'nowhere.invalid:1' },
      { nick: 'dave', address: '127.0.0.1:9002' },
    ]);
    expect(added).toEqual(['dave']);
    expect(text()).toMatch(/!! unresolvable not added: cannot resolve/);
    expect(socket.added).toEqual([{ dave: '127.0.0.1:9002' }]);
  });

  it('/load of a file naming ourselves (nick or key) does not add us', async () => {
    const path = join(dir, 'peers.json');
    await writeFile(
      path,
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [
          { nick: 'alice', address: '127.0.0.1:9000' },
          { nick: 'me2', address: '127.0.0.1:9001', fingerprint: socket.fingerprint },
          { nick: 'bob', address: '127.0.0.1:9002' },
        ],
      }),
    );
    await run('/load peers.json');
    expect(socket.added).toEqual([{ bob: '127.0.0.1:9002' }]);
    expect(text()).toMatch(/skipping alice: that is your own nick/);
    expect(text()).toMatch(/skipping me2: that is your own key/);
    expect(text()).toMatch(/loaded 1 of 3 peers from/);
  });

  it('/whois during a key mismatch shows both keys in full, and the pin when not connected', async () => {
    const mismatch = info('bob', {
      state: { kind: 'key-mismatch', since: 0, expected: FP_BOB, got: FP_EVE },
    });
    socket.list = [mismatch, info('carol', { fingerprint: undefined })];
    socket.pins.set('carol', FP_EVE);
    await run('/whois bob');
    expect(text()).toMatch(new RegExp(`pinned key\\s+${FP_BOB}`));
    expect(text()).toMatch(new RegExp(`offered key\\s+${FP_EVE}`));
    await run('/whois carol');
    expect(text()).toMatch(
      new RegExp(`fingerprint\\s+not known yet\n.*[\\s\\S]*pinned key\\s+${FP_EVE}`),
    );
  });

  it("after /trust the new key's session is a connection, not a restart, and the store hears of it", async () => {
    const trusted: [string, string, string | undefined][] = [];
    await chat.shutdown();
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      onTrust: (nick, fp, address) => trusted.push([nick, fp, address]),
    });
    socket.list = [
      info('bob', { state: { kind: 'key-mismatch', since: 0, expected: FP_BOB, got: FP_EVE } }),
    ];
    socket.trustNewKey = async (nick: string) => {
      socket.trusted.push(nick);
      socket.pins.set(nick, FP_EVE);
      // The new key's session may complete while the trust store is still being written.
      await flush();
      socket.emit('peer', info('bob', { fingerprint: FP_EVE }), 'restarted');
    };
    await run('/trust bob');
    expect(trusted).toEqual([['bob', FP_EVE, '127.0.0.1:9000']]);
    expect(text()).not.toMatch(/bob restarted/);
    expect(text()).toMatch(/bob connected from 127\.0\.0\.1:9000, key hoedriki/);
    // A later restart is one.
    socket.emit('peer', info('bob', { fingerprint: FP_EVE }), 'restarted');
    expect(text()).toMatch(/bob restarted/);
  });

  it('a renamed peer is named by its old name too, not "a peer"', async () => {
    const stranger = info('bob', { pinned: false, fingerprint: FP_BOB });
    socket.emit('peer', stranger, 'connected');
    // /add bob <address>: the stranger is moved aside, then the name is given back, pinned.
    socket.emit('peer', info('bob-hoedriki', { pinned: false, fingerprint: FP_BOB }), 'renamed');
    socket.emit('peer', info('bob', { fingerprint: FP_BOB }), 'renamed');
    expect(text()).toMatch(/bob is now known as bob-hoedriki\n.*bob-hoedriki is now known as bob$/);
  });

  it('/trust of a stranger says how to keep it instead of "key has not changed"', async () => {
    const stranger = info('bob', { pinned: false, address: '127.0.0.1:9000' });
    socket.list = [stranger];
    socket.emit('peer', stranger, 'connected');
    await run('/trust bob');
    expect(socket.trusted).toEqual([]);
    expect(text()).toMatch(
      /!! bob is a stranger \(you never added it\): no changed key to accept; \/add bob 127\.0\.0\.1:9000 keeps it/,
    );
  });

  it('an unconfirmed peer (issue 17 item 7): the chat says so on connecting and in /whois; /trust pins it without a new session', async () => {
    const trusted: [string, string, string | undefined][] = [];
    await chat.shutdown();
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      onTrust: (nick, fp, address) => trusted.push([nick, fp, address]),
    });
    const maybe = info('bob', {
      address: '198.51.100.7:41234',
      unconfirmed: { from: '198.51.100.7:41234' },
    });
    socket.list = [maybe];
    socket.emit('peer', maybe, 'connected');
    expect(text()).toMatch(
      /bob connected from 198\.51\.100\.7:41234 \(unconfirmed: answered from 198\.51\.100\.7:41234, \/trust bob to pin\), key rhpvxvgl/,
    );
    await run('/whois bob');
    expect(text()).toMatch(/key\s+unconfirmed: answered from 198\.51\.100\.7:41234/);
    socket.trustNewKey = async (nick: string) => {
      socket.trusted.push(nick);
      socket.pins.set(nick, FP_BOB);
    };
    await run('/trust bob');
    expect(socket.trusted).toEqual(['bob']);
    expect(trusted).toEqual([['bob', FP_BOB, '198.51.100.7:41234']]);
    expect(text()).toMatch(
      new RegExp(`bob pinned to key ${FP_BOB} \\(it answered from 198\\.51\\.100\\.7:41234\\)`),
    );
    expect(text()).not.toMatch(/reconnecting/);
    // Not waiting for a new key's session: the next session of bob is a restart, said as one.
    socket.list = [info('bob', { address: '198.51.100.7:41234' })];
    socket.emit('peer', info('bob'), 'restarted');
    expect(text()).toMatch(/bob restarted/);
  });

  it('reports each own message’s delivery by id and recipient when asked to', async () => {
    const reports: [number, string, string, string | undefined][] = [];
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      onDelivery: (id, nick, outcome, detail) => reports.push([id, nick, outcome, detail]),
    });
    socket.list = [info('bob')];
    await run('hello');
    await run('/msg bob psst');
    const own = lines.flatMap((l) => (l.kind === 'message' && l.id !== undefined ? [l] : []));
    const ids = own.map((l) => l.id);
    expect(ids).toHaveLength(2);
    // Each own line names its recipients, so the screen can count them.
    expect(own.map((l) => l.recipients)).toEqual([['bob'], ['bob']]);
    socket.sent[1]!.settle();
    socket.sent[0]!.settle(new TransportError('timed out', 'timeout'));
    await flush();
    expect(reports).toEqual([
      [ids[1], 'bob', 'acked', undefined],
      [ids[0], 'bob', 'failed', 'timed out'],
    ]);
    // The screen marks the messages: no "delivered" system line; a failure
    // is still a line of its own, naming the message.
    expect(text()).not.toMatch(/-- delivered to bob/);
    expect(text()).toMatch(/!! ✗ "hello" not delivered to bob: timed out/);
  });

  it('a broadcast is acknowledged per recipient; one that leaves is reported at once, naming the message', async () => {
    const reports: [number, string, string, string | undefined][] = [];
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      onDelivery: (id, nick, outcome, detail) => reports.push([id, nick, outcome, detail]),
    });
    socket.list = [info('bob'), info('carol'), info('dave')];
    await run('hello world, everyone');
    expect(socket.sent.map((x) => x.opts)).toEqual([
      { recipient: 'bob' },
      { recipient: 'carol' },
      { recipient: 'dave' },
    ]);
    const id = lines.find((l) => l.kind === 'message')!;
    expect(id).toMatchObject({ recipients: ['bob', 'carol', 'dave'] });
    const mid = id.kind === 'message' ? id.id : undefined;
    socket.sent[0]!.settle();
    socket.sent[1]!.settle();
    await flush();
    // dave closes cleanly: its 'disconnected' event, not the send's timeout, says it.
    const gone: PeerInfo = info('dave', {
      state: {
        kind: 'disconnected',
        since: 1,
        reason: 'closed by peer',
        cause: { kind: 'remote', code: 0 },
      },
    });
    socket.list = [info('bob'), info('carol'), gone];
    socket.emit('peer', gone, 'disconnected');
    expect(reports).toEqual([
      [mid, 'bob', 'acked', undefined],
      [mid, 'carol', 'acked', undefined],
      [mid, 'dave', 'left', 'dave left'],
    ]);
    expect(text()).toMatch(/!! ✗ "hello wor…" not delivered to dave: dave left/);
    expect(chat.unsent).toBe(1);
    // The transport's own rejection that follows is no news.
    const before = text();
    socket.sent[2]!.settle(
      new TransportError('dave: closed by peer before acknowledging', 'undeliverable'),
    );
    await flush();
    expect(reports).toHaveLength(3);
    expect(text()).toBe(before);
    expect(chat.unsent).toBe(1);
    expect(chat.pendingSends).toBe(0);
  });

  it('without a screen, a partly delivered broadcast says who got it and names the message for who did not', async () => {
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      verbose: true,
    });
    socket.list = [info('bob'), info('carol')];
    await run('short');
    socket.sent[0]!.settle();
    const gone: PeerInfo = info('carol', {
      state: {
        kind: 'disconnected',
        since: 1,
        reason: 'the peer timed out',
        cause: { kind: 'idle-timeout' },
      },
    });
    socket.emit('peer', gone, 'disconnected');
    await flush();
    expect(text()).toMatch(
      /!! ✗ "short" not delivered to carol: carol left \(the peer timed out\)/,
    );
    expect(text()).toMatch(/-- delivered to 1 of 2 peers/);
    // A removed recipient is as gone.
    lines.length = 0;
    socket.list = [info('bob')];
    await run('/msg bob one more thing');
    socket.emit('peer', info('bob'), 'removed');
    await flush();
    expect(text()).toMatch(/!! ✗ "one more …" not delivered to bob: bob was removed/);
  });

  it('a message waiting for a peer that is away is not given up on while it stays away', async () => {
    const away: PeerInfo = info('bob', {
      state: {
        kind: 'disconnected',
        since: 1,
        reason: 'closed by peer',
        cause: { kind: 'remote', code: 0 },
      },
    });
    socket.list = [away];
    await run('/msg bob see you later');
    expect(text()).toMatch(/the message waits until it connects/);
    // Another event while bob stays away (a redial's state) is not bob leaving.
    socket.emit('peer', away, 'state');
    await flush();
    expect(text()).not.toMatch(/not delivered/);
    expect(chat.unsent).toBe(0);
    // Connected, then gone again before acknowledging: that is leaving.
    socket.emit('peer', info('bob'), 'connected');
    socket.emit('peer', away, 'disconnected');
    expect(text()).toMatch(/✗ "see you l…" not delivered to bob: bob left/);
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
    // Whether a key is blocked is the transport's answer, not a copy here.
    await run(`/block ${FP_EVE}`);
    expect(socket.blocked).toEqual([FP_BOB, FP_EVE]);
    expect(text()).toMatch(/key hoedriki is already blocked/);
    await run(`/unblock ${FP_BOB}`);
    expect(text()).toMatch(/key rhpvxvgl is not blocked/);
    expect(socket.unblocked).toEqual([FP_BOB]);
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
    expect(text()).toMatch(/✗ "bye" not delivered to bob: socket closed/);
    expect(chat.pendingSends).toBe(0);
  });
});

describe('no command hangs the chat', () => {
  it.skipIf(!existsSync('/proc/self'))(
    "/save into a directory that cannot be made fails at once (Node's recursive mkdir retries forever there)",
    async () => {
      await run('/save /proc/nope/x.json');
      expect(text()).toMatch(
        /cannot write peers file \/proc\/nope\/x\.json: \/proc\/nope is not a directory/,
      );
    },
    5000,
  );

  it('/save into a missing directory says so and writes nothing', async () => {
    await run('/save missing/peers.json');
    expect(text()).toMatch(/missing is not a directory/);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('a command that never settles is reported after the timeout', async () => {
    socket.addPeers = () => new Promise<void>(() => undefined);
    const hung = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      commandTimeoutMs: 30,
    });
    expect(await hung.execute(parseCommand('/add bob 127.0.0.1:9000'))).toBeUndefined();
    expect(text()).toMatch(/\/add did not finish within 0\.03 s/);
  });

  it('a command given up on still reports its late failure', async () => {
    let fail: (e: Error) => void = () => undefined;
    socket.addPeers = () => new Promise<void>((_, rej) => (fail = rej));
    const hung = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      commandTimeoutMs: 10,
    });
    await hung.execute(parseCommand('/add bob 127.0.0.1:9000'));
    fail(new Error('no such host'));
    await flush();
    expect(text()).toMatch(/\/add: no such host/);
  });
});

describe('/help <command>', () => {
  it('shows that command alone', async () => {
    await run('/help msg');
    expect(lines).toHaveLength(1);
    expect(text()).toMatch(/\/msg <nick> <text>\s+send a private message to one peer/);
    lines = [];
    await run('/help /exit');
    expect(text()).toMatch(/^.*\/quit\s+leave the chat\n.*also \/exit$/);
  });
});

describe('/wait', () => {
  it('/wait returns once the peer connects, and at once when it already is', async () => {
    let settled = false;
    const waiting = run('/wait bob 5').then(() => {
      settled = true;
    });
    await flush();
    expect(settled).toBe(false);
    socket.emit('peer', info('carol'), 'connected');
    await flush();
    expect(settled).toBe(false);
    socket.list = [info('bob')];
    socket.emit('peer', info('bob'), 'connected');
    await waiting;
    expect(socket.listenerCount('peer')).toBe(1);
    await run('/wait bob');
    expect(text()).toMatch(/bob is connected/);
  });

  it('/wait gives up after its seconds with an error line', async () => {
    await run('/wait bob 0.05');
    expect(text()).toMatch(/bob did not connect within 0\.05 s/);
    expect(socket.listenerCount('peer')).toBe(1);
  });
});

describe('ChatController: peers by key, relays', () => {
  const FP_CAROL = 'hoedrikisoul3m6khpwsumlphenbfvvnw5gvu6gityzcxqzy4daq';
  let added: [string, string, string | undefined][];
  let forgotten: string[];
  beforeEach(() => {
    added = [];
    forgotten = [];
    chat = new ChatController(socket as unknown as ChatSocket, {
      nick: 'alice',
      print: (l) => lines.push(l),
      cwd: dir,
      onAdded: (nick, by, fp) => added.push([nick, by, fp]),
      onForgotten: (nick) => forgotten.push(nick),
    });
  });

  it('/add <nick> <fingerprint> is refused, saying how, while the DHT and mDNS are off', async () => {
    await run(`/add carol ${FP_CAROL}`);
    expect(socket.added).toEqual([]);
    expect(text()).toMatch(
      /cannot look carol up by key: the DHT and mDNS are off .*\/add carol <host:port> <fingerprint>/,
    );
    expect(added).toEqual([]);
  });

  it('/add <nick> <fingerprint> looks the key up, and is remembered to look up again', async () => {
    socket.discover({ mdns: false });
    await run(`/add carol ${FP_CAROL}`);
    expect(socket.added).toEqual([{ carol: { fingerprint: FP_CAROL } }]);
    expect(text()).toContain(`looking up carol by key ${FP_CAROL} in the DHT`);
    expect(added).toEqual([['carol', 'key', FP_CAROL]]);
    // Not found yet: /list and /whois say so rather than "no peers" or "unknown peer".
    lines.length = 0;
    await run('/list');
    expect(text()).toMatch(/carol: looking up by key, not found yet/);
    expect(text()).not.toMatch(/no peers yet/);
    await run('/whois carol');
    expect(text()).toMatch(/carol: looking up by key in the DHT, not found yet/);
    expect(text()).not.toMatch(/unknown peer/);
    // /remove stops the lookup and forgets the name.
    await run('/remove carol');
    expect(socket.removed).toEqual(['carol']);
    expect(forgotten).toEqual(['carol']);
    expect(text()).toMatch(/stopped looking up carol/);
  });

  it('/add <nick> <address> <fingerprint> gives the transport both', async () => {
    await run(`/add carol 127.0.0.1:9000 ${FP_CAROL}`);
    expect(socket.added).toEqual([{ carol: { address: '127.0.0.1:9000', fingerprint: FP_CAROL } }]);
    expect(text()).toMatch(/connecting to carol at 127\.0\.0\.1:9000, expecting key/);
    expect(added).toEqual([['carol', 'address', FP_CAROL]]);
  });

  it('refuses our own key', async () => {
    socket.discover();
    await run(`/add me ${socket.fingerprint}`);
    expect(socket.added).toEqual([]);
    expect(text()).toMatch(/not adding me: that is your own key/);
  });

  it('/whois says where a peer was found and names the relay of a relayed session', async () => {
    socket.discover();
    await run(`/add carol ${FP_CAROL}`);
    socket.discovery!.lookingFor.carol = 'dht';
    socket.relay = {
      server: '198.18.0.9:3478',
      state: 'allocated',
      transport: 'udp',
      reason: undefined,
      relayed: '198.18.0.9:50000',
      bytesSent: 0,
      bytesReceived: 0,
      dropped: 0,
      droppedBy: {},
    };
    socket.list = [
      info('carol', { address: '198.18.0.9:50123', fingerprint: FP_CAROL }),
      info('dave', { introducedBy: 'carol', pinned: false }),
    ];
    socket.list[0]!.stats.path = 'relay';
    socket.list[0]!.stats.pathSwitches = 2;
    lines.length = 0;
    await run('/whois carol');
    expect(text()).toMatch(/found by\s+DHT/);
    expect(text()).toMatch(
      /relay\s+our relay 198\.18\.0\.9:3478, relayed address 198\.18\.0\.9:50000/,
    );
    expect(text()).toMatch(/path moves\s+2 \(relay <-> direct\)/);
    lines.length = 0;
    await run('/whois dave');
    expect(text()).toMatch(/found by\s+introduction \(from carol\)/);
    expect(text()).not.toMatch(/relay /);
    lines.length = 0;
    await run('/add erin 127.0.0.1:9001');
    await run('/whois erin');
    expect(text()).toMatch(/found by\s+address/);
  });

  it('a known peer first found by key is looked up by key at start, not at its old address', async () => {
    socket.discover();
    const ok = await chat.addEntries([
      { nick: 'carol', address: '198.51.100.1:9000', fingerprint: FP_CAROL, lookup: true },
      { nick: 'dave', address: '198.51.100.2:9000', fingerprint: FP_BOB },
    ]);
    expect(ok).toEqual(['carol', 'dave']);
    expect(socket.added).toEqual([
      { carol: { fingerprint: FP_CAROL } },
      { dave: { address: '198.51.100.2:9000', fingerprint: FP_BOB } },
    ]);
    // With discovery off, the remembered address is the best there is.
    socket.discovery = undefined;
    socket.added = [];
    socket.list = [];
    await chat.addEntries([
      { nick: 'carol', address: '198.51.100.1:9000', fingerprint: FP_CAROL, lookup: true },
      { nick: 'erin', fingerprint: FP_EVE, lookup: true },
    ]);
    expect(socket.added).toEqual([
      { carol: { address: '198.51.100.1:9000', fingerprint: FP_CAROL } },
    ]);
    expect(text()).toMatch(/erin not added: it was added by key, and finding peers by key is off/);
  });
});
