import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLineMode } from '../../source/app/linemode.js';
import { ChatController, type ChatSocket } from '../../source/chat/controller.js';
import { encodeChat } from '../../source/chat/protocol.js';
import { FakeSocket, info } from '../chat/fakesocket.js';

/** The line-mode front end (pipes, scripts) on a fake socket: order, output, exit codes. */

let dir: string;
let socket: FakeSocket;
const flush = () => new Promise((r) => setImmediate(r));
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(check()).toBe(true);
}
/** A line-mode chat on `socket`, its output collected. */
function lineChat(opts: { commandTimeoutMs?: number } = {}) {
  const input = new PassThrough();
  const output = new PassThrough();
  const out = { text: '' };
  output.on('data', (d: Buffer) => {
    out.text += d.toString('utf8');
  });
  const mode = createLineMode({ input, output, graceMs: 10 });
  const controller = new ChatController(socket as unknown as ChatSocket, {
    nick: 'alice',
    print: mode.print,
    ...opts,
  });
  return { input, out, running: mode.start(controller) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-linemode-'));
  socket = new FakeSocket();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
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
    // Acknowledged, so nothing was lost and the exit code is 0.
    await until(() => socket.sent.length === 1);
    socket.sent[0]!.settle();
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

describe('no command hangs line mode', () => {
  it('in line mode, the lines after a hung command still run', async () => {
    socket.addPeers = () => new Promise<void>(() => undefined);
    const { input, out, running } = lineChat({ commandTimeoutMs: 20 });
    input.end('/add bob 127.0.0.1:9000\n/help msg\n');
    expect(await running.done).toBe(0);
    expect(out.text).toMatch(/did not finish/);
    expect(out.text).toMatch(/\/msg <nick> <text>/);
  });
});

describe('the exit code of line mode', () => {
  it('a script waits for its peer, sends, and exits 0 once acknowledged', async () => {
    const { input, running } = lineChat();
    input.write('/wait bob 5\nhello\n');
    await flush();
    expect(socket.sent).toHaveLength(0);
    socket.list = [info('bob')];
    socket.emit('peer', info('bob'), 'connected');
    await until(() => socket.sent.length === 1);
    socket.sent[0]!.settle();
    input.end('/quit\n');
    expect(await running.done).toBe(0);
  });

  it('exits 1 when a message could not be sent (nobody connected)', async () => {
    const { input, out, running } = lineChat();
    input.end('hello\n');
    expect(await running.done).toBe(1);
    expect(out.text).toMatch(/nobody is connected/);
    expect(out.text).toMatch(/1 message was not delivered: exit code 1/);
  });

  it('exits 1 when a message was never acknowledged, or went to an unknown peer', async () => {
    socket.list = [info('bob')];
    const first = lineChat();
    first.input.end('hello\n');
    expect(await first.running.done).toBe(1);
    socket.list = [];
    const second = lineChat();
    second.input.end('/msg nobody hi\n');
    expect(await second.running.done).toBe(1);
  });
});
