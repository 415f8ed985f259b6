/**
 * Issue #16's figures, all from measurements made in the same run:
 *
 *   ceiling(size) = payload per datagram ÷ max(receive + open, send + seal)
 *
 * where receive / send are raw dgram's whole-process CPU per datagram (bulk,
 * two processes, kernel work and wake-ups included) and open / seal are
 * sodium-native's, measured alone; and at each end of our bulk transfer
 *
 *   own CPU per datagram = process CPU per datagram − raw dgram's at the
 *                          same size − seal (sender) or open (receiver).
 *
 * Targets (shown beside each figure, never asserted): own ≤ 2 µs at the
 * sender and ≤ 1 µs at the receiver; bulk ≥ 0.8 × the ceiling.
 */
import { payloadRoom } from '../source/net/core/conn/session.js';
import type { CryptoCost } from './ceiling.js';
import type { OursBulk, RawBulkRun } from './figures.js';
import { formatNumber, median, type Row, row, statusRow } from './stats.js';

export const OWN_TARGET = { sender: 2, receiver: 1 } as const;
export const CEILING_TARGET = 0.8;

/** Everything measured at one datagram size. */
export interface AtSize {
  /** Datagram size the figures are for. */
  size: number;
  label: string;
  raw: readonly RawBulkRun[];
  crypto: CryptoCost | undefined;
  ours: readonly OursBulk[];
}

const mid = <T>(runs: readonly T[], key: (r: T) => number): number | undefined =>
  runs.length > 0 ? median(runs.map(key)) : undefined;

const range = <T>(runs: readonly T[], key: (r: T) => number): string => {
  if (runs.length < 2) return 'one run';
  const v = runs.map(key);
  return `range ${formatNumber(Math.min(...v))}-${formatNumber(Math.max(...v))}`;
};

export interface OwnFigures {
  rawSendUs: number;
  rawRecvUs: number;
  ceilingMbps: number;
  senderOwnUs: number | undefined;
  receiverOwnUs: number | undefined;
  fraction: number | undefined;
}

export function ownFigures(s: AtSize): OwnFigures | undefined {
  const rawSendUs = mid(s.raw, (r) => r.senderCpuUs);
  const rawRecvUs = mid(s.raw, (r) => r.receiverCpuUs);
  if (rawSendUs === undefined || rawRecvUs === undefined || !s.crypto) return undefined;
  const k = s.crypto;
  const ceilingMbps = payloadRoom(s.size) / Math.max(rawRecvUs + k.openUs, rawSendUs + k.sealUs);
  const tx = mid(s.ours, (r) => r.senderCpuUs);
  const rx = mid(s.ours, (r) => r.receiverCpuUs);
  const mbps = mid(s.ours, (r) => r.mbps);
  return {
    rawSendUs,
    rawRecvUs,
    ceilingMbps,
    senderOwnUs: tx === undefined ? undefined : tx - rawSendUs - k.sealUs,
    receiverOwnUs: rx === undefined ? undefined : rx - rawRecvUs - k.openUs,
    fraction: mbps === undefined ? undefined : mbps / ceilingMbps,
  };
}

const met = (ok: boolean | undefined): string =>
  ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met';

/** The rows for one datagram size (group 4). */
export function ownRows(group: string, s: AtSize): Row[] {
  const f = ownFigures(s);
  const at = `${s.label}`;
  if (!f)
    return [statusRow(group, `own CPU and ceiling ${at}`, 'µs', 'FAILED: a part was not measured')];
  const k = s.crypto!;
  const oursTx = mid(s.ours, (r) => r.senderCpuUs);
  const oursRx = mid(s.ours, (r) => r.receiverCpuUs);
  const rows: Row[] = [
    row(
      group,
      `raw dgram sender CPU per datagram ${at}`,
      'µs',
      f.rawSendUs,
      '',
      undefined,
      `whole process (user+system) over the timed blast; ${range(s.raw, (r) => r.senderCpuUs)}`,
    ),
    row(
      group,
      `raw dgram receiver CPU per datagram ${at}`,
      'µs',
      f.rawRecvUs,
      '',
      undefined,
      `whole process over first->last datagram, kernel and wake-ups included; ${range(s.raw, (r) => r.receiverCpuUs)}`,
    ),
    row(
      group,
      `seal / open alone ${at}`,
      'µs',
      k.sealUs,
      'open',
      k.openUs,
      `${k.cipher}, ${k.plaintextBytes} B payload in place, in-process`,
    ),
    row(
      group,
      `ceiling ${at}`,
      'MB/s',
      f.ceilingMbps,
      '',
      undefined,
      `${payloadRoom(s.size)} B payload / max(receive ${formatNumber(f.rawRecvUs)} + open ${formatNumber(k.openUs)}, ` +
        `send ${formatNumber(f.rawSendUs)} + seal ${formatNumber(k.sealUs)}) µs`,
    ),
  ];
  if (s.ours.length === 0) {
    rows.push(statusRow(group, `ours ${at}`, '', 'FAILED: no bulk run'));
    return rows;
  }
  rows.push(
    row(
      group,
      `ours sender own CPU per datagram ${at}`,
      'µs',
      f.senderOwnUs,
      'target',
      OWN_TARGET.sender,
      `${met(f.senderOwnUs !== undefined && f.senderOwnUs <= OWN_TARGET.sender)}; process ${formatNumber(oursTx)} µs/datagram ` +
        `(${range(s.ours, (r) => r.senderCpuUs)}) - raw send - seal`,
    ),
    row(
      group,
      `ours receiver own CPU per datagram ${at}`,
      'µs',
      f.receiverOwnUs,
      'target',
      OWN_TARGET.receiver,
      `${met(f.receiverOwnUs !== undefined && f.receiverOwnUs <= OWN_TARGET.receiver)}; process ${formatNumber(oursRx)} µs/datagram ` +
        `(${range(s.ours, (r) => r.receiverCpuUs)}) - raw receive - open`,
    ),
    row(
      group,
      `ours bulk / ceiling ${at}`,
      'x',
      f.fraction,
      'target',
      CEILING_TARGET,
      `${met(f.fraction !== undefined && f.fraction >= CEILING_TARGET)}; ours ${formatNumber(mid(s.ours, (r) => r.mbps))} MB/s ` +
        `(${range(s.ours, (r) => r.mbps)})`,
    ),
  );
  return rows;
}
