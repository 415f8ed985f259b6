/**
 * The chat's commands as data: one file per command (its name, help,
 * parser and handler), the registry, the line parser and tab completion.
 */
export type { Action, ActionType, CommandName, ExecuteResult } from './action.js';
export { isFingerprint } from './args.js';
export type { AnyCommand, ArgSpec, CommandContext, CommandDef } from './command.js';
export { completeCommand } from './complete.js';
export { helpLines } from './help.js';
export { INVITE_STUN_WAIT_MS } from './invite.js';
export { MAX_INPUT_BYTES, parseCommand } from './parse.js';
export { COMMANDS, findCommand, runCommand } from './registry.js';
export { WAIT_DEFAULT_SECONDS, WAIT_MAX_SECONDS } from './wait.js';
