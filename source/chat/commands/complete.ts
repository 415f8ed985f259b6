import { COMMANDS, findCommand } from './registry.js';

/** Argument kinds whose first word is a nick (completed while it is typed). */
const NICK_FIRST = new Set(['nick', 'nick-or-fingerprint', 'nick-text', 'nick-seconds']);
/** Argument kinds that go on after the nick: completion leaves a space for them. */
const MORE_AFTER_NICK = new Set(['nick-text', 'nick-seconds']);

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
    if (!NICK_FIRST.has(cmd.args)) return [];
    const tail = MORE_AFTER_NICK.has(cmd.args) ? ' ' : '';
    return uniq(matchNicks(partial).map((n) => `${head}${n}${tail}`));
  }
  const m = /^([\s\S]*?)(\S+)$/u.exec(prefix);
  if (!m) return [];
  const before = m[1] ?? '';
  const partial = m[2] ?? '';
  return uniq(matchNicks(partial).map((n) => `${before}${n}`));
}
