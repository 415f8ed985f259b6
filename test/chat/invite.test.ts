import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand } from '../../source/chat/commands/index.js';
import { ChatController } from '../../source/chat/controller.js';
import { type ChatLine, formatChatLine } from '../../source/chat/format.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';

const open: MultiHolepunchSocket[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function chat(nick: string) {
  const socket = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick });
  open.push(socket);
  const lines: ChatLine[] = [];
  const controller = new ChatController(socket, { nick, print: (l) => lines.push(l) });
  const run = (line: string) => controller.execute(parseCommand(line));
  const text = () => lines.map(formatChatLine).join('\n');
  return { socket, run, text };
}

describe('invite codes in the chat', () => {
  it('/invite shows a code and /join connects with it, pinning the key', async () => {
    const alice = await chat('alice');
    const bob = await chat('bob');
    await alice.run('/invite');
    const code = /srmudp1:[A-Za-z0-9_-]+/.exec(alice.text())?.[0];
    expect(code).toBeDefined();
    await bob.run(`/join ${code}`);
    expect(bob.text()).toMatch(/connecting to alice with an invite code/);
    await bob.socket.waitForPeer('alice');
    expect(bob.socket.peers()[0]?.fingerprint).toBe(alice.socket.fingerprint);
  });

  it('/add <nick> <code> works too; a mangled code is an inline error', async () => {
    const alice = await chat('alice');
    const bob = await chat('bob');
    await bob.run(`/add al ${alice.socket.invite()}`);
    await bob.socket.waitForPeer('al');
    expect(parseCommand('/join srmudp1:abc')).toMatchObject({ type: 'error' });
    expect(parseCommand('/join')).toEqual({ type: 'error', message: 'usage: /join <code>' });
    expect(parseCommand('/invite now')).toEqual({ type: 'error', message: 'usage: /invite [key]' });
    expect(parseCommand('/add bob srmudp1:!!')).toMatchObject({ type: 'error' });
  });
});
