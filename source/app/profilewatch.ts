import { existsSync } from 'node:fs';

/**
 * The data directory can vanish while the chat runs (a user deleting it, a
 * cleanup script). Every file we write recreates its directory, so nothing
 * would fail, and nothing would be said: but the identity key would be gone,
 * the next start would make a new one, and every friend would see a key
 * change. So the identity file is looked for now and then; when it is gone,
 * the key is written back from memory, the known peers with it (the trust
 * store is written whole at its next change), and the user is told once.
 * Polled: fs.watch on a directory that is itself deleted is not portable.
 */
export interface ProfileWatch {
  identityPath: string;
  /** Writes the key back if its file is gone (MultiHolepunchSocket.keepIdentityFile). */
  keepIdentity: () => Promise<unknown>;
  /** Writes the known peers back (KnownPeers.restore). */
  restoreKnown: () => void;
  say: (text: string) => void;
  fail: (text: string) => void;
  exists?: (path: string) => boolean;
}

export const PROFILE_CHECK_MS = 5000;

/** One look: true when the identity file was gone and has been written back. */
export async function checkProfile(w: ProfileWatch): Promise<boolean> {
  const exists = w.exists ?? existsSync;
  if (exists(w.identityPath)) return false;
  try {
    await w.keepIdentity();
    w.restoreKnown();
  } catch (err) {
    w.fail(
      `the identity file ${w.identityPath} was deleted while the chat ran and could not be written again: ${(err as Error).message}`,
    );
    return false;
  }
  w.say(
    `the identity file ${w.identityPath} was deleted while the chat ran: your key and known peers were written back, so your fingerprint stays the same`,
  );
  return true;
}

/** Checks every PROFILE_CHECK_MS; returns the stop. */
export function watchProfile(w: ProfileWatch): () => void {
  let failed = false;
  let busy = false;
  const timer = setInterval(() => {
    if (busy || failed) return;
    busy = true;
    checkProfile({
      ...w,
      // Said once: a disk that refuses the write refuses it every time.
      fail: (text) => {
        failed = true;
        w.fail(text);
      },
    }).finally(() => {
      busy = false;
    });
  }, PROFILE_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
