import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand } from '../../source/chat/commands/index.js';
import { ChatController } from '../../source/chat/controller.js';
import { type ChatLine, formatChatLine } from '../../source/chat/format.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { UdpProxy } from '../support/udpproxy.js';

/**
 * Per-recipient delivery over the real transport on 127.0.0.1: a recipient
 * that closes while our message is on its way is reported as left when its
 * CLOSE arrives, not as a failure at the send's timeout. (The transport keeps
 * such a send pending until its timeout, 30 s by default: measured by hand,
 * the rejection came only when alice's own socket closed.)
 */

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close().catch(() => undefined)));
});

type Report = [number, string, string, string | undefined];

async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 2000; i++) {
    const v = check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never happened: ${what}`);
}

describe('per-recipient delivery over the transport', () => {
  it('bob acknowledges; carol, closing while the message is delayed to her, is reported as left', async () => {
    const bind = async (nick: string) => {
      const s = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick });
      open.push(s);
      return s;
    };
    const alice = await bind('alice');
    const bob = await bind('bob');
    const carol = await bind('carol');
    // alice reaches carol only through a proxy that can hold datagrams back.
    const proxy = await UdpProxy.start(
      { address: '127.0.0.1', port: carol.localAddress().port },
      1,
    );
    open.push(proxy);
    const lines: ChatLine[] = [];
    const reports: Report[] = [];
    const chat = new ChatController(alice, {
      nick: 'alice',
      print: (l) => lines.push(l),
      onDelivery: (id, nick, outcome, detail) => reports.push([id, nick, outcome, detail]),
    });
    await alice.addPeers({ bob: `127.0.0.1:${bob.localAddress().port}`, carol: proxy.address });
    await alice.waitForPeer('bob');
    await alice.waitForPeer('carol');
    // carol too: a CLOSE needs her end of the session (her handshake's last message in).
    await carol.waitForPeer('alice');

    // From now on, every datagram through the proxy (both ways) waits 300 ms:
    // the message reaches carol's port after she closed, her CLOSE reaches alice.
    proxy.impairment = { delay: 300 };
    await chat.execute(parseCommand('hello world, everyone'));
    const own = lines.find((l) => l.kind === 'message' && l.own);
    expect(own).toMatchObject({ recipients: ['bob', 'carol'] });
    const id = own?.kind === 'message' ? own.id : undefined;
    await carol.close();

    const carolsReport = await until(
      () => reports.find((r) => r[1] === 'carol'),
      "carol's outcome",
    );
    expect(carolsReport).toEqual([id, 'carol', 'left', 'carol left']);
    expect(reports).toContainEqual([id, 'bob', 'acked', undefined]);
    const text = lines.map(formatChatLine).join('\n');
    expect(text).toMatch(/✗ "hello wor…" not delivered to carol: carol left/);
    // carol's copy is still pending in the transport; closing rejects it,
    // and that rejection is no news: carol's outcome was said once.
    expect(chat.pendingSends).toBe(1);
    await chat.shutdown();
    expect(chat.pendingSends).toBe(0);
    expect(reports.filter((r) => r[1] === 'carol')).toHaveLength(1);
    expect(lines.map(formatChatLine).join('\n')).not.toMatch(/socket closed/);
    expect(chat.unsent).toBe(1);
  });
});
