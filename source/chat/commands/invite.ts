import type { StunInfo } from '../../index.js';
import { noArgs } from './args.js';
import type { CommandContext, CommandDef } from './command.js';

/** Longest /invite waits for a STUN round still in progress, ms. */
export const INVITE_STUN_WAIT_MS = 3000;

export const invite: CommandDef<'invite'> = {
  name: 'invite',
  aliases: [],
  usage: '/invite [key]',
  description:
    'show a code others can paste to reach you (/join or /add <nick> <code>); "key": nick and key only, found by DHT/LAN, never stale',
  args: 'none',
  parse(rest) {
    if (rest.trim() === 'key') return { type: 'invite', keyOnly: true };
    return noArgs(rest, invite.usage) ?? { type: 'invite' };
  },
  async run(action, ctx) {
    if (action.keyOnly) {
      ctx.system('your key-only invite code (they need the DHT or the same LAN; /join <code>):');
      ctx.system(ctx.socket.invite({ addresses: false }));
      return undefined;
    }
    await stunSettled(ctx, INVITE_STUN_WAIT_MS);
    ctx.system('your invite code (give it to someone; they type /join <code>):');
    ctx.system(ctx.socket.invite());
    return undefined;
  },
};

/**
 * A code made while STUN is still asking would lack our public address and
 * our NAT's kind (which decides whether many-port probing is needed), so
 * /invite waits for STUN a little first — never long: a code with local
 * addresses is still useful on a LAN.
 */
async function stunSettled(ctx: CommandContext, ms: number): Promise<void> {
  const info = ctx.socket.stunInfo();
  if (!info || info.done) return;
  ctx.system('asking STUN for your public address first...');
  await new Promise<void>((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      ctx.socket.off('stun', onStun);
      resolve();
    };
    const onStun = (s: StunInfo) => {
      if (s.done) finish();
    };
    const timer = setTimeout(finish, ms);
    ctx.socket.on('stun', onStun);
  });
}
