import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type PeerEntry, savePeersFile } from '../../app/peersfile.js';
import { fileArg } from './args.js';
import type { CommandDef } from './command.js';

export const save: CommandDef<'save'> = {
  name: 'save',
  aliases: [],
  usage: '/save <file>',
  description: 'write the peer list to a file',
  args: 'file',
  parse(rest) {
    const r = fileArg(rest, save.usage);
    return 'type' in r ? r : { type: 'save', file: r.file };
  },
  async run({ file }, ctx) {
    const path = ctx.resolvePath(file);
    // The directory must exist: /save makes no directories. (Node's recursive
    // mkdir, which the atomic write uses, never returns for a directory that
    // cannot be made under an existing parent, e.g. /proc/nope: it retries.)
    const dir = dirname(path);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new Error(`cannot write peers file ${path}: ${dir} is not a directory`);
    }
    const entries: PeerEntry[] = [];
    let skipped = 0;
    for (const p of ctx.socket.peers()) {
      if (!p.address) {
        skipped++;
        continue;
      }
      const fingerprint = ctx.socket.pinnedFingerprint(p.nick) ?? p.fingerprint;
      entries.push({ nick: p.nick, address: p.address, ...(fingerprint ? { fingerprint } : {}) });
    }
    await savePeersFile(path, entries);
    const note = skipped > 0 ? ` (${skipped} without a known address left out)` : '';
    ctx.system(`saved ${entries.length} peer${entries.length === 1 ? '' : 's'} to ${path}${note}`);
    return undefined;
  },
};
