import { loadPeersFile } from '../../app/peersfile.js';
import { fileArg } from './args.js';
import type { CommandDef } from './command.js';

export const load: CommandDef<'load'> = {
  name: 'load',
  aliases: [],
  usage: '/load <file>',
  description: 'add the peers listed in a file',
  args: 'file',
  parse(rest) {
    const r = fileArg(rest, load.usage);
    return 'type' in r ? r : { type: 'load', file: r.file };
  },
  async run({ file }, ctx) {
    const path = ctx.resolvePath(file);
    const entries = await loadPeersFile(path);
    const n = (await ctx.addEntries(entries)).length;
    const of = n === entries.length ? '' : ` of ${entries.length}`;
    ctx.system(`loaded ${n}${of} peer${entries.length === 1 ? '' : 's'} from ${path}`);
    return undefined;
  },
};
