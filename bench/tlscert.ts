/**
 * A throwaway self-signed certificate for the node:tls baseline, made at run
 * time with the `openssl` command line (Node 20 cannot create X.509) in a
 * private temp directory that is removed straight after. Benchmark-only: the
 * key never leaves this run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsPem {
  key: string;
  cert: string;
}

/** What the certificate is, for the table notes. */
export const TLS_CERT_KIND = 'ECDSA P-256 self-signed cert, SAN IP:127.0.0.1';

export class OpensslMissing extends Error {}

/** Throws OpensslMissing when there is no `openssl` on PATH, an Error when it fails. */
export function makeTlsCert(): TlsPem {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-bench-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '2',
          '-subj',
          '/CN=srmudp-bench',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new OpensslMissing('openssl is not on PATH (needed for a throwaway TLS certificate)');
      }
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim().split('\n')[0];
      throw new Error(`openssl req failed: ${stderr || (err as Error).message}`);
    }
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
