import type { Action, CommandName, ExecuteResult } from './action.js';
import { add } from './add.js';
import { bell } from './bell.js';
import { block } from './block.js';
import { clear } from './clear.js';
import type { AnyCommand, CommandContext, CommandDef } from './command.js';
import { help } from './help.js';
import { invite } from './invite.js';
import { join } from './join.js';
import { list } from './list.js';
import { load } from './load.js';
import { msg } from './msg.js';
import { quit } from './quit.js';
import { remove } from './remove.js';
import { save } from './save.js';
import { trust } from './trust.js';
import { unblock } from './unblock.js';
import { wait } from './wait.js';
import { whois } from './whois.js';

/**
 * Every command, by name. The mapped type makes a command missing from here
 * (or filed under another name) a compile error; the order is /help's.
 */
const BY_NAME: { readonly [N in CommandName]: CommandDef<N> } = {
  help,
  list,
  add,
  invite,
  join,
  remove,
  msg,
  whois,
  wait,
  trust,
  block,
  unblock,
  save,
  load,
  clear,
  bell,
  quit,
};

export const COMMANDS: readonly AnyCommand[] = Object.values(BY_NAME);

/** The command called `name` (no slash) or having it as an alias, any case. */
export function findCommand(name: string): AnyCommand | undefined {
  const lower = name.toLowerCase();
  return COMMANDS.find((c) => c.name === lower || c.aliases.includes(lower));
}

/** Runs a command's action with its own handler. */
export function runCommand(
  action: Extract<Action, { type: CommandName }>,
  ctx: CommandContext,
): ExecuteResult | Promise<ExecuteResult> {
  // TypeScript cannot relate BY_NAME[action.type] to the action's own variant
  // (a correlated union): the mapped type above is what guarantees it.
  const def = BY_NAME[action.type] as CommandDef<CommandName>;
  return def.run(action, ctx);
}
