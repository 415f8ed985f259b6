import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/atomicwrite.js';
import { UsageError } from '../core/errors.js';
import { fingerprint, parseFingerprint } from '../crypto/identity.js';

/**
 * Names pinned to keys (trust on first use), persisted as
 *   {"type":"srmudp-trust","version":1,"pins":{"bob":"<fingerprint>",...}}
 * A malformed file is reported with its path and is never overwritten.
 * Saves go through writeFileAtomic: serialised per file in call order (the
 * last state wins whole, so no pin set in this process is lost), random
 * exclusive temp names (a planted symlink is never followed), mode 0600.
 */
export const TRUST_FILE_VERSION = 1;

export class TrustStore {
  private constructor(
    readonly path: string | undefined,
    private readonly pins: Map<string, Buffer>,
  ) {}

  static memory(): TrustStore {
    return new TrustStore(undefined, new Map());
  }

  static async load(path: string): Promise<TrustStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new TrustStore(path, new Map());
      throw new UsageError(`cannot read trust store ${path}: ${(err as Error).message}`);
    }
    const bad = (why: string) => new UsageError(`trust store ${path} is not valid: ${why}`);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw bad('not JSON');
    }
    if (typeof data !== 'object' || data === null) throw bad('not a JSON object');
    const obj = data as Record<string, unknown>;
    if (obj.type !== 'srmudp-trust') throw bad('"type" is not "srmudp-trust"');
    if (obj.version !== TRUST_FILE_VERSION) {
      throw bad(
        `version ${String(obj.version)} is not ${TRUST_FILE_VERSION} (written by a newer version?)`,
      );
    }
    if (typeof obj.pins !== 'object' || obj.pins === null || Array.isArray(obj.pins)) {
      throw bad('"pins" is not an object');
    }
    const pins = new Map<string, Buffer>();
    for (const [nick, fp] of Object.entries(obj.pins as Record<string, unknown>)) {
      if (typeof fp !== 'string') throw bad(`pin for "${nick}" is not a string`);
      try {
        pins.set(nick, parseFingerprint(fp));
      } catch {
        throw bad(`pin for "${nick}" is not a fingerprint`);
      }
    }
    return new TrustStore(path, pins);
  }

  entries(): [string, Buffer][] {
    return [...this.pins.entries()];
  }

  get(nick: string): Buffer | undefined {
    return this.pins.get(nick);
  }

  /** Forgets a name's pin (the user removed the peer). */
  async delete(nick: string): Promise<void> {
    if (!this.pins.delete(nick)) return;
    await this.save();
  }

  async set(nick: string, key: Buffer): Promise<void> {
    this.pins.set(nick, key);
    await this.save();
  }

  private async save(): Promise<void> {
    if (!this.path) return;
    const pins: Record<string, string> = {};
    for (const [nick, key] of this.pins) pins[nick] = fingerprint(key);
    const body = `${JSON.stringify({ type: 'srmudp-trust', version: TRUST_FILE_VERSION, pins }, null, 2)}\n`;
    try {
      await writeFileAtomic(this.path, body, { mode: 0o600 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new UsageError(`cannot save trust store ${this.path}: ${code}`);
    }
  }
}
