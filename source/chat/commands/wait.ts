import type { PeerInfo } from '../../index.js';
import { quoteForDisplay } from '../sanitize.js';
import { checkNick, error, usageError, words } from './args.js';
import type { CommandContext, CommandDef } from './command.js';

/** How long /wait waits when not told, and at most, in seconds. */
export const WAIT_DEFAULT_SECONDS = 30;
export const WAIT_MAX_SECONDS = 3600;

export const wait: CommandDef<'wait'> = {
  name: 'wait',
  aliases: [],
  usage: '/wait <nick> [seconds]',
  description: `wait until <nick> is connected (default ${WAIT_DEFAULT_SECONDS} s; for scripts in line mode)`,
  args: 'nick-seconds',
  parse(rest) {
    const args = words(rest);
    const [nick, secs] = args;
    if (args.length < 1 || args.length > 2 || nick === undefined) return usageError(wait.usage);
    const bad = checkNick(nick);
    if (bad) return error(bad);
    if (secs === undefined) return { type: 'wait', nick, seconds: WAIT_DEFAULT_SECONDS };
    const seconds = Number(secs);
    if (!/^\d+(\.\d+)?$/u.test(secs) || seconds <= 0 || seconds > WAIT_MAX_SECONDS) {
      return error(`bad number of seconds ${quoteForDisplay(secs)}: give 1-${WAIT_MAX_SECONDS}`);
    }
    return { type: 'wait', nick, seconds };
  },
  async run({ nick, seconds }, ctx) {
    await waitFor(ctx, nick, seconds);
    return undefined;
  },
};

/**
 * Resolves once `nick` is connected (it may be a peer that has yet to dial
 * us), or throws after `seconds`: a script's next line can then rely on it.
 */
async function waitFor(ctx: CommandContext, nick: string, seconds: number): Promise<void> {
  const isUp = (p: PeerInfo) => p.nick === nick && p.state.kind === 'connected';
  if (ctx.socket.peers().some(isUp)) {
    ctx.system(`${nick} is connected`);
    return;
  }
  ctx.system(`waiting up to ${seconds} s for ${nick} to connect...`);
  const connected = await new Promise<boolean>((res) => {
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      ctx.socket.off('peer', onPeer);
      res(ok);
    };
    const onPeer = (p: PeerInfo) => {
      if (isUp(p)) finish(true);
    };
    const timer = setTimeout(() => finish(false), seconds * 1000);
    ctx.socket.on('peer', onPeer);
  });
  if (!connected) throw new Error(`${nick} did not connect within ${seconds} s`);
}
