import {
  decodeInvite,
  isInviteCode,
  parseFingerprint,
  parseHostPort,
  validateNick,
} from '../index.js';
import { isUnsafeChar, quoteForDisplay } from './sanitize.js';

/**
 * The chat's input line → one typed Action. Pure and total: every string,
 * however malformed, yields an Action (bad input is `{type:'error'}` with a
 * message fit to show the user); nothing here throws or does I/O.
 *
 * A line starting with `/` is a command; `//text` sends the text `/text`.
 * Anything else is a message to every connected peer. Message text may not
 * contain control characters (receivers would only see them escaped), except
 * TAB, which becomes a space.
 */

export type Action =
  | { type: 'broadcast'; text: string }
  /** `command`: the one command to explain (its name, no slash), or all of them. */
  | { type: 'help'; command?: string }
  | { type: 'list' }
  /** `address` is host:port or an invite code (srmudp1:…). */
  | { type: 'add'; nick: string; address: string }
  /** Show our invite code. */
  | { type: 'invite' }
  /** Connect with an invite code under the nick it carries. */
  | { type: 'join'; code: string }
  | { type: 'remove'; nick: string }
  | { type: 'msg'; nick: string; text: string }
  | { type: 'save'; file: string }
  | { type: 'load'; file: string }
  | { type: 'quit' }
  | { type: 'whois'; nick: string }
  /** Line mode's scripts: wait until `nick` is connected, at most `seconds`. */
  | { type: 'wait'; nick: string; seconds: number }
  | { type: 'trust'; nick: string }
  /** `nick` is a peer's nick or a fingerprint. */
  | { type: 'block'; nick: string }
  /** `nick` is a nick blocked earlier or a fingerprint. */
  | { type: 'unblock'; nick: string }
  | { type: 'clear' }
  /** Switches the terminal bell for mentions on or off (full-screen UI). */
  | { type: 'bell' }
  | { type: 'none' }
  | { type: 'error'; message: string };

export type ActionType = Action['type'];

/** Longest accepted input line, in UTF-8 bytes. */
export const MAX_INPUT_BYTES = 64 * 1024;

/** What a command's arguments are, for parsing and completion. */
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
  | 'nick-seconds';

interface CommandBase {
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly description: string;
}

export type CommandInfo = CommandBase &
  (
    | {
        readonly name: 'list' | 'clear' | 'quit' | 'bell' | 'invite';
        readonly args: 'none';
      }
    | { readonly name: 'help'; readonly args: 'command' }
    | { readonly name: 'wait'; readonly args: 'nick-seconds' }
    | { readonly name: 'join'; readonly args: 'code' }
    | { readonly name: 'remove' | 'whois' | 'trust'; readonly args: 'nick' }
    | { readonly name: 'block' | 'unblock'; readonly args: 'nick-or-fingerprint' }
    | { readonly name: 'add'; readonly args: 'nick-address' }
    | { readonly name: 'msg'; readonly args: 'nick-text' }
    | { readonly name: 'save' | 'load'; readonly args: 'file' }
  );

/** How long /wait waits when not told, and at most, in seconds. */
export const WAIT_DEFAULT_SECONDS = 30;
export const WAIT_MAX_SECONDS = 3600;

export const COMMANDS: readonly CommandInfo[] = [
  {
    name: 'help',
    aliases: [],
    usage: '/help [command]',
    description: 'show this list, or how to use one command',
    args: 'command',
  },
  {
    name: 'list',
    aliases: [],
    usage: '/list',
    description: 'peers: address, state, fingerprint, round trip, retransmits, loss',
    args: 'none',
  },
  {
    name: 'add',
    aliases: [],
    usage: '/add <nick> <host:port>',
    description: 'connect to a peer and call it <nick>',
    args: 'nick-address',
  },
  {
    name: 'invite',
    aliases: [],
    usage: '/invite',
    description: 'show a code others can paste to reach you (/join or /add <nick> <code>)',
    args: 'none',
  },
  {
    name: 'join',
    aliases: [],
    usage: '/join <code>',
    description: "connect with someone's invite code, under the nick it carries",
    args: 'code',
  },
  {
    name: 'remove',
    aliases: [],
    usage: '/remove <nick>',
    description: 'disconnect from a peer and forget it',
    args: 'nick',
  },
  {
    name: 'msg',
    aliases: [],
    usage: '/msg <nick> <text>',
    description: 'send a private message to one peer',
    args: 'nick-text',
  },
  {
    name: 'whois',
    aliases: [],
    usage: '/whois <nick>',
    description: "a peer's full fingerprint, address, state and statistics",
    args: 'nick',
  },
  {
    name: 'wait',
    aliases: [],
    usage: '/wait <nick> [seconds]',
    description: `wait until <nick> is connected (default ${WAIT_DEFAULT_SECONDS} s; for scripts in line mode)`,
    args: 'nick-seconds',
  },
  {
    name: 'trust',
    aliases: [],
    usage: '/trust <nick>',
    description: "accept a peer's changed key (compare fingerprints first!)",
    args: 'nick',
  },
  {
    name: 'block',
    aliases: [],
    usage: '/block <nick|fingerprint>',
    description: "refuse a peer's key from now on",
    args: 'nick-or-fingerprint',
  },
  {
    name: 'unblock',
    aliases: [],
    usage: '/unblock <nick|fingerprint>',
    description: 'accept a blocked key again',
    args: 'nick-or-fingerprint',
  },
  {
    name: 'save',
    aliases: [],
    usage: '/save <file>',
    description: 'write the peer list to a file',
    args: 'file',
  },
  {
    name: 'load',
    aliases: [],
    usage: '/load <file>',
    description: 'add the peers listed in a file',
    args: 'file',
  },
  {
    name: 'clear',
    aliases: [],
    usage: '/clear',
    description: 'clear the screen',
    args: 'none',
  },
  {
    name: 'bell',
    aliases: [],
    usage: '/bell',
    description: 'switch the terminal bell for mentions of your nick on or off',
    args: 'none',
  },
  {
    name: 'quit',
    aliases: ['exit'],
    usage: '/quit',
    description: 'leave the chat',
    args: 'none',
  },
];

const NICK_RULE = 'use 1-32 letters, digits, "_", "." or "-" (no spaces)';
/** host:port is at most a 253-character host name, a colon and 5 digits (plus IPv6 brackets). */
const MAX_ADDRESS_CHARS = 300;
const MAX_FILE_CHARS = 4096;

function findCommand(name: string): CommandInfo | undefined {
  const lower = name.toLowerCase();
  return COMMANDS.find((c) => c.name === lower || c.aliases.includes(lower));
}

const error = (message: string): Action => ({ type: 'error', message });

/** An unpaired UTF-16 surrogate: text that was never valid Unicode. */
function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

/** The first character `sanitize` would escape, optionally allowing TAB. */
function firstUnsafe(text: string, allowTab: boolean): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (allowTab && c === 0x09) continue;
    if (isUnsafeChar(c)) return c;
  }
  return undefined;
}

function describeChar(code: number): string {
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

function checkNick(nick: string): string | undefined {
  try {
    validateNick(nick);
    return undefined;
  } catch {
    return `bad nickname ${quoteForDisplay(nick)}: ${NICK_RULE}`;
  }
}

/** True when `text` parses as a key fingerprint (so a nick-or-fingerprint argument is the latter). */
export function isFingerprint(text: string): boolean {
  try {
    parseFingerprint(text);
    return true;
  } catch {
    return false;
  }
}

function checkAddress(address: string): string | undefined {
  if (address.length > MAX_ADDRESS_CHARS) {
    return `bad address ${quoteForDisplay(address)}: too long (${address.length} characters)`;
  }
  const bad = firstUnsafe(address, false);
  if (bad !== undefined) return `bad address: contains control character ${describeChar(bad)}`;
  try {
    parseHostPort(address);
    return undefined;
  } catch (err) {
    return `${(err as Error).message}`;
  }
}

/** Splits off the first whitespace-separated word; `rest` has its leading whitespace removed. */
function firstWord(text: string): { word: string; rest: string } {
  const m = /^(\S*)\s*([\s\S]*)$/u.exec(text);
  return { word: m?.[1] ?? '', rest: m?.[2] ?? '' };
}

function words(text: string): string[] {
  const t = text.trim();
  return t === '' ? [] : t.split(/\s+/u);
}

export function parseCommand(line: string): Action {
  if (typeof line !== 'string') return error('input is not text');
  const bytes = Buffer.byteLength(line, 'utf8');
  if (bytes > MAX_INPUT_BYTES) {
    return error(`input too long: ${bytes} bytes (the limit is ${MAX_INPUT_BYTES})`);
  }
  // One line terminator left on by a caller is not part of the input.
  const text = line.replace(/\r?\n$/u, '');
  if (hasLoneSurrogate(text)) return error('input is not valid Unicode (unpaired surrogate)');
  if (text.includes('\u0000')) return error('input contains a NUL character');
  if (text.trim() === '') return { type: 'none' };

  const start = text.trimStart();
  if (!start.startsWith('/')) return message(text);
  if (start.startsWith('//')) return message(start.slice(1));

  const { word: name, rest } = firstWord(start.slice(1));
  if (name === '') return error('empty command: type /help for the list');
  const bad = firstUnsafe(name, false);
  if (bad !== undefined) {
    return error(`command name contains control character ${describeChar(bad)}`);
  }
  const cmd = findCommand(name);
  if (!cmd) return error(`unknown command ${quoteForDisplay(`/${name}`)}: type /help for the list`);
  return parseArgs(cmd, rest);
}

function message(text: string): Action {
  const bad = firstUnsafe(text, true);
  if (bad !== undefined) {
    return error(`message contains control character ${describeChar(bad)}; not sent`);
  }
  return { type: 'broadcast', text: text.replaceAll('\t', ' ') };
}

function parseArgs(cmd: CommandInfo, rest: string): Action {
  const usage = error(`usage: ${cmd.usage}`);
  switch (cmd.args) {
    case 'none': {
      if (words(rest).length !== 0) return usage;
      return { type: cmd.name };
    }
    case 'nick':
    case 'nick-or-fingerprint': {
      const args = words(rest);
      const [nick] = args;
      if (args.length !== 1 || nick === undefined) return usage;
      if (cmd.args === 'nick-or-fingerprint' && isFingerprint(nick)) {
        return { type: cmd.name, nick };
      }
      const bad = checkNick(nick);
      if (bad) return error(bad);
      return { type: cmd.name, nick };
    }
    case 'nick-address': {
      const args = words(rest);
      const [nick, address] = args;
      if (args.length !== 2 || nick === undefined || address === undefined) return usage;
      const badNick = checkNick(nick);
      if (badNick) return error(badNick);
      if (isInviteCode(address)) {
        const bad = checkInvite(address);
        return bad ? error(bad) : { type: 'add', nick, address };
      }
      const badAddress = checkAddress(address);
      if (badAddress) return error(badAddress);
      return { type: 'add', nick, address };
    }
    case 'command': {
      const args = words(rest);
      if (args.length === 0) return { type: 'help' };
      const [name] = args;
      if (args.length !== 1 || name === undefined) return usage;
      const known = findCommand(name.replace(/^\//u, ''));
      if (!known) {
        return error(
          `unknown command ${quoteForDisplay(`/${name.replace(/^\//u, '')}`)}: type /help for the list`,
        );
      }
      return { type: 'help', command: known.name };
    }
    case 'nick-seconds': {
      const args = words(rest);
      const [nick, secs] = args;
      if (args.length < 1 || args.length > 2 || nick === undefined) return usage;
      const bad = checkNick(nick);
      if (bad) return error(bad);
      if (secs === undefined) return { type: 'wait', nick, seconds: WAIT_DEFAULT_SECONDS };
      const seconds = Number(secs);
      if (!/^\d+(\.\d+)?$/u.test(secs) || seconds <= 0 || seconds > WAIT_MAX_SECONDS) {
        return error(`bad number of seconds ${quoteForDisplay(secs)}: give 1-${WAIT_MAX_SECONDS}`);
      }
      return { type: 'wait', nick, seconds };
    }
    case 'code': {
      const args = words(rest);
      const [code] = args;
      if (args.length !== 1 || code === undefined) return usage;
      const bad = checkInvite(code);
      return bad ? error(bad) : { type: 'join', code };
    }
    case 'nick-text': {
      const { word: nick, rest: body } = firstWord(rest);
      if (nick === '' || body.trim() === '') return usage;
      const bad = checkNick(nick);
      if (bad) return error(bad);
      const unsafe = firstUnsafe(body, true);
      if (unsafe !== undefined) {
        return error(`message contains control character ${describeChar(unsafe)}; not sent`);
      }
      return { type: 'msg', nick, text: body.replaceAll('\t', ' ') };
    }
    case 'file': {
      const file = rest.trim();
      if (file === '') return usage;
      if (file.length > MAX_FILE_CHARS)
        return error(`file name too long (${file.length} characters)`);
      const bad = firstUnsafe(file, false);
      if (bad !== undefined) {
        return error(`file name contains control character ${describeChar(bad)}`);
      }
      return { type: cmd.name, file };
    }
  }
}

/**
 * Tab completion: full-line candidates for `prefix` (the input so far),
 * sorted. Completes command names after `/`, nicks in a command's nick
 * argument, and a nick as the last word of a plain message.
 */
export function completeCommand(prefix: string, nicks: readonly string[]): string[] {
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  const matchNicks = (partial: string) => {
    const lower = partial.toLowerCase();
    return nicks.filter((n) => n.toLowerCase().startsWith(lower));
  };
  const start = prefix.trimStart();
  if (start.startsWith('/') && !start.startsWith('//')) {
    const body = start.slice(1);
    const space = body.search(/\s/u);
    if (space < 0) {
      const lower = body.toLowerCase();
      return uniq(
        COMMANDS.filter((c) => c.name.startsWith(lower)).map(
          (c) => `/${c.name}${c.args === 'none' ? '' : ' '}`,
        ),
      );
    }
    const cmd = findCommand(body.slice(0, space));
    if (!cmd) return [];
    const partial = body.slice(space).trimStart();
    // Only the first argument is a nick, and only while it is being typed.
    if (/\s/u.test(partial)) return [];
    const head = `/${cmd.name} `;
    if (cmd.args === 'command') {
      const lower = partial.replace(/^\//u, '').toLowerCase();
      return uniq(COMMANDS.filter((c) => c.name.startsWith(lower)).map((c) => `${head}${c.name}`));
    }
    if (
      cmd.args !== 'nick' &&
      cmd.args !== 'nick-or-fingerprint' &&
      cmd.args !== 'nick-text' &&
      cmd.args !== 'nick-seconds'
    ) {
      return [];
    }
    const tail = cmd.args === 'nick-text' || cmd.args === 'nick-seconds' ? ' ' : '';
    return uniq(matchNicks(partial).map((n) => `${head}${n}${tail}`));
  }
  const m = /^([\s\S]*?)(\S+)$/u.exec(prefix);
  if (!m) return [];
  const before = m[1] ?? '';
  const partial = m[2] ?? '';
  return uniq(matchNicks(partial).map((n) => `${before}${n}`));
}

/** The problem with an invite code, or undefined when it decodes. */
function checkInvite(code: string): string | undefined {
  try {
    decodeInvite(code);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
