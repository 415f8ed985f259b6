import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/**
 * Permission tests (chmod 000, then expect EACCES) prove nothing as root, and
 * CI runs as root. `callDenied` calls an async function of ours with one
 * string argument as an unprivileged user: in this process when we already are
 * one, else in a child node that loads the module and then drops to
 * `nobody` (uid/gid 65534) through process.setgid/setuid, so the kernel
 * itself refuses the read, as it would for a user.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const NOBODY = 65534;

export type CallOutcome = { ok: true } | { ok: false; name: string; message: string };

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** `source` is relative to the repository root, e.g. 'source/chat/peersfile.ts'. */
export async function callDenied(source: string, name: string, arg: string): Promise<CallOutcome> {
  const url = pathToFileURL(join(root, source)).href;
  if (!isRoot()) {
    const mod = (await import(url)) as Record<string, (a: string) => Promise<unknown>>;
    try {
      await mod[name]!(arg);
      return { ok: true };
    } catch (err) {
      return { ok: false, name: (err as Error).name, message: (err as Error).message };
    }
  }
  // The module (and tsx, from node_modules) loads before the drop: a clone
  // in a directory only root may enter (\`mktemp -d\` makes them 0700) could
  // not be read by nobody, and the test would fail on the import instead of
  // on the file it is about. The call itself runs as nobody.
  const script = `
    const mod = await import(${JSON.stringify(url)});
    process.setgroups([]);
    process.setgid(${NOBODY});
    process.setuid(${NOBODY});
    let out;
    try { await mod[${JSON.stringify(name)}](${JSON.stringify(arg)}); out = { ok: true }; }
    catch (err) { out = { ok: false, name: err.name, message: err.message }; }
    process.stdout.write(JSON.stringify({ uid: process.getuid(), out }));
  `;
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: root, env: { ...process.env, HOME: '/nonexistent' } },
  );
  const { uid, out } = JSON.parse(stdout) as { uid: number; out: CallOutcome };
  if (uid !== NOBODY) throw new Error(`child ran as uid ${uid}, not ${NOBODY}`);
  return out;
}
