import type { PeerInfo } from '../../index.js';
import { formatTime, formatWhois } from '../format.js';
import { foundBy, searching, unconfirmedNote } from '../netformat.js';
import { oneNick } from './args.js';
import type { CommandContext, CommandDef } from './command.js';

export const whois: CommandDef<'whois'> = {
  name: 'whois',
  aliases: [],
  usage: '/whois <nick>',
  description:
    "a peer's full fingerprint, address, state, where it was found, its relay and statistics",
  args: 'nick',
  parse(rest) {
    const r = oneNick(rest, whois.usage);
    return 'type' in r ? r : { type: 'whois', nick: r.nick };
  },
  run({ nick }, ctx) {
    const stats = ctx.socket.stats();
    if (searching(stats.discovery, ctx.socket.peers()).includes(nick)) {
      const d = stats.discovery!;
      const where = [d.dht ? 'the DHT' : '', d.mdns ? 'on the LAN' : ''].filter(Boolean);
      ctx.system(`${nick}: looking up by key in ${where.join(' and ')}, not found yet`);
      const pinned = ctx.socket.pinnedFingerprint(nick);
      if (pinned) ctx.system(`  pinned key   ${pinned}`);
      return undefined;
    }
    const p = ctx.requirePeer(nick);
    for (const row of formatWhois(p, ctx.now())) ctx.system(row);
    const unconfirmed = unconfirmedNote(p);
    if (unconfirmed) ctx.system(`  key          ${unconfirmed}`);
    for (const row of networkRows(p, ctx)) ctx.system(row);
    const since = ctx.connectedSince(nick);
    if (since !== undefined && p.state.kind === 'connected') {
      ctx.system(`  connected    since ${formatTime(since)}`);
    }
    // Both keys in full: comparing fingerprints is how the user decides.
    const s = p.state;
    if (s.kind === 'key-mismatch') {
      ctx.system(`  pinned key   ${s.expected}`);
      ctx.system(`  offered key  ${s.got} (refused: /trust ${nick} if ${nick} confirms it)`);
      return undefined;
    }
    const pinned = ctx.socket.pinnedFingerprint(nick);
    if (pinned && pinned !== p.fingerprint) ctx.system(`  pinned key   ${pinned}`);
    return undefined;
  },
};

/** Where the peer was found, and the relay a relayed session goes through. */
function networkRows(p: PeerInfo, ctx: CommandContext): string[] {
  const stats = ctx.socket.stats();
  const rows: string[] = [];
  const found = foundBy(p, stats.discovery, ctx.addedBy.get(p.nick));
  if (found)
    rows.push(
      `  found by     ${found}${found === 'introduction' ? ` (from ${p.introducedBy})` : ''}`,
    );
  if (p.stats.path === 'relay') {
    // Either side's allocation may carry the session: ours when we have
    // one, else the peer's relayed address, which we reach directly.
    const r = stats.relay;
    rows.push(
      r?.state === 'allocated'
        ? `  relay        our relay ${r.server ?? '?'}, relayed address ${r.relayed ?? '?'}`
        : `  relay        the peer's, at ${p.address ?? '-'}`,
    );
  }
  const moves = p.stats.pathSwitches ?? 0;
  if (moves > 0) rows.push(`  path moves   ${moves} (relay <-> direct)`);
  return rows;
}
