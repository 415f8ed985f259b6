import type { PeerEntry } from '../../app/peersfile.js';
import type { PeerInfo } from '../../index.js';
import type { ChatSocket } from '../controller.js';
import type { AddedBy } from '../netformat.js';
import type { Action, CommandName, ErrorAction, ExecuteResult } from './action.js';

/**
 * A command as data: its name, help and parser, and the handler that runs it
 * against the small context the controller provides. One file per command
 * (commands/<name>.ts), gathered in commands/registry.ts.
 */

/** What a command's arguments are, for completion (the parser is the command's own). */
export type ArgSpec =
  | 'none'
  /** one peer nick */
  | 'nick'
  /** a nick or a fingerprint */
  | 'nick-or-fingerprint'
  /** a new nick and a host:port */
  | 'nick-address'
  /** a nick, then free text to the end of the line */
  | 'nick-text'
  /** a file name: the rest of the line */
  | 'file'
  /** an optional command name */
  | 'command'
  /** a nick and an optional number of seconds */
  | 'nick-seconds'
  /** an invite code */
  | 'code';

export type ActionOf<N extends CommandName> = Extract<Action, { type: N }>;

/** Finds a command by name or alias, any case (for /help <command>). */
export type FindCommand = (name: string) => AnyCommand | undefined;

/** What the controller lends a command while it runs. */
export interface CommandContext {
  readonly socket: ChatSocket;
  /** Every command, in /help's order. */
  readonly commands: readonly AnyCommand[];
  system(text: string): void;
  error(text: string): void;
  /** Wall-clock ms (a fake clock in tests). */
  now(): number;
  /** The peer called `nick`, or throws the error line for an unknown one. */
  requirePeer(nick: string): PeerInfo;
  /** A /save or /load path, resolved against the chat's working directory. */
  resolvePath(file: string): string;
  /** Adds peers each on its own (see ChatController.addEntries); resolves to the nicks added. */
  addEntries(entries: readonly PeerEntry[]): Promise<string[]>;
  /** Sends our own message: to `to` only, or to every connected peer. */
  sendMessage(text: string, to?: string): void;
  /** When `nick` last connected, by our clock. */
  connectedSince(nick: string): number | undefined;
  /** Nicks whose new key was just trusted: their next session is a connection, not a restart. */
  readonly trusting: Set<string>;
  /**
   * Which key /block blocked for a nick, only so /unblock <nick> works after
   * the peer is gone: whether a key is blocked is the transport's to say.
   */
  readonly blockedNicks: Map<string, string>;
  /** How the user added each name (address, invite code, key alone): /whois says where it was found. */
  readonly addedBy: Map<string, AddedBy>;
  /**
   * The user added `nick` (/add, /join): the known-peers store keeps a name
   * added by key at once, so it is looked up again after a restart.
   */
  onAdded?: ((nick: string, by: AddedBy, fingerprint?: string) => void) | undefined;
  /** A name still being looked up by key was removed (no 'removed' event comes for it). */
  onForgotten?: ((nick: string) => void) | undefined;
  /** The user accepted `nick`'s new key: the known-peers store follows. */
  onTrust?: ((nick: string, fingerprint: string, address: string | undefined) => void) | undefined;
}

export interface CommandDef<N extends CommandName> {
  readonly name: N;
  readonly aliases: readonly string[];
  readonly usage: string;
  /** One line, for /help. */
  readonly description: string;
  readonly args: ArgSpec;
  /** The arguments (the line after the command name) → the action, or a usage error. Pure. */
  parse(rest: string, find: FindCommand): ActionOf<N> | ErrorAction;
  /** Runs the action; a thrown error becomes an error line (see ChatController.execute). */
  run(action: ActionOf<N>, ctx: CommandContext): ExecuteResult | Promise<ExecuteResult>;
}

export type AnyCommand = { [N in CommandName]: CommandDef<N> }[CommandName];
