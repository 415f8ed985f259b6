/**
 * The one way we write files of our own (trust store, peers file, identity
 * key): readers only ever see the old file or the whole new one, a planted
 * file or symlink is never written through, and writes to one file from this
 * process are applied one at a time, in call order.
 *
 * Each write creates a temp file beside the target under a random name with
 * O_CREAT|O_EXCL (`wx`): O_EXCL fails on any existing name, a symlink
 * included (POSIX open(2): "If O_EXCL and O_CREAT are set, and path names a
 * symbolic link, open() shall fail ... regardless of the contents of the
 * symbolic link"), so a name someone else made is skipped, never followed.
 * The temp file is fsync'd, then renamed over the target (or, for an
 * exclusive create, hard-linked to it: link(2) fails with EEXIST instead of
 * replacing), then the directory is fsync'd so the new name survives a crash.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of a newly written file (before umask). Default 0o600: most of what we write is private. */
  mode?: number;
  /** Mode of parent directories we create. Default 0o700. */
  dirMode?: number;
  /** Never replace an existing file: resolves false (writing nothing) when `path` exists. */
  exclusive?: boolean;
  /** Source of temp-name suffixes (default: 12 random bytes, hex). A seam for tests that plant names. */
  randomName?: () => string;
}

/** How many temp names we try before giving up (each clash means someone made that name). */
export const TEMP_NAME_ATTEMPTS = 8;

type Data = string | Uint8Array;

interface Job {
  data: Data;
  options: AtomicWriteOptions;
  waiters: { resolve: (placed: boolean) => void; reject: (err: unknown) => void }[];
}

/** Per absolute path: queue[0] is being written, queue[1..] wait their turn. */
const lanes = new Map<string, Job[]>();

/**
 * Writes `data` to `path` atomically. Writes to the same path from this
 * process run one at a time in call order; a replacing write still waiting
 * behind another is superseded by a later one (the later state is the one
 * wanted, and the file is replaced whole), whose outcome both callers get.
 * Resolves true when the file was written, false when `exclusive` found one.
 * Errors are Node's (with `code`); the old file is then left as it was.
 */
export function writeFileAtomic(
  path: string,
  data: Data,
  options: AtomicWriteOptions = {},
): Promise<boolean> {
  const key = resolve(path);
  return new Promise<boolean>((resolvePromise, reject) => {
    const waiter = { resolve: resolvePromise, reject };
    const queue = lanes.get(key);
    if (!queue) {
      lanes.set(key, [{ data, options, waiters: [waiter] }]);
      void drain(key);
      return;
    }
    const last = queue.length > 1 ? queue[queue.length - 1] : undefined;
    if (last && !last.options.exclusive && !options.exclusive) {
      last.data = data;
      last.options = options;
      last.waiters.push(waiter);
    } else {
      queue.push({ data, options, waiters: [waiter] });
    }
  });
}

async function drain(key: string): Promise<void> {
  const queue = lanes.get(key)!;
  for (let job = queue[0]; job; job = queue[0]) {
    try {
      const placed = await writeNow(key, job.data, job.options);
      for (const w of job.waiters) w.resolve(placed);
    } catch (err) {
      for (const w of job.waiters) w.reject(err);
    }
    queue.shift();
  }
  lanes.delete(key);
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function defaultName(): string {
  return randomBytes(12).toString('hex');
}

type Handle = Awaited<ReturnType<typeof open>>;

/** Creates a fresh temp file beside `path`, skipping names that already exist. */
async function createTemp(
  path: string,
  mode: number,
  randomName: () => string,
): Promise<{ tmp: string; handle: Handle }> {
  for (let attempt = 0; attempt < TEMP_NAME_ATTEMPTS; attempt++) {
    const tmp = join(dirname(path), `.${basename(path)}.${randomName()}.tmp`);
    try {
      return { tmp, handle: await open(tmp, 'wx', mode) };
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
    }
  }
  throw Object.assign(new Error(`no free temp name beside ${path}`), { code: 'EEXIST' });
}

async function writeAndSync(handle: Handle, data: Data): Promise<void> {
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Hard-links the complete temp file into place; false if `path` exists. */
async function placeExclusive(tmp: string, path: string, data: Data, mode: number) {
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
  }
  // No hard links on this filesystem: an exclusive create in place still never
  // replaces another creator's file (a reader may briefly see it incomplete).
  let handle: Handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await writeAndSync(handle, data);
  } catch (err) {
    // We created it (wx succeeded): a half-written file must not stay behind.
    await unlink(path).catch(() => undefined);
    throw err;
  }
  return true;
}

/** fsync(2) of the directory makes the rename durable; Windows cannot open a directory for it. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let handle: Handle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory (EINVAL); only an I/O error means data at risk.
    if (errorCode(err) === 'EIO') throw err;
  } finally {
    await handle.close();
  }
}

/**
 * `mkdir -p`, one level at a time. Not Node's recursive mkdir: for a path
 * that cannot be made under an existing parent (e.g. /proc/x) it retries
 * forever and the write never returns. Here each level is made once; an
 * ENOENT after its parent exists is an error like any other.
 */
export async function makeDirs(dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      await mkdir(d, { mode });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') break;
      if (code !== 'ENOENT' || dirname(d) === d) throw err;
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

async function writeNow(path: string, data: Data, options: AtomicWriteOptions): Promise<boolean> {
  const mode = options.mode ?? 0o600;
  const dir = dirname(path);
  await makeDirs(dir, options.dirMode ?? 0o700);
  const { tmp, handle } = await createTemp(path, mode, options.randomName ?? defaultName);
  let renamed = false;
  let placed: boolean;
  try {
    await writeAndSync(handle, data);
    if (options.exclusive) {
      placed = await placeExclusive(tmp, path, data, mode);
    } else {
      await rename(tmp, path);
      renamed = true;
      placed = true;
    }
  } finally {
    // Only our own temp name: after the rename it may be someone else's.
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
  if (placed) await syncDir(dir);
  return placed;
}
