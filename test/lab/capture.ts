import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Addr } from '../../source/net/core/address.js';

/**
 * A packet capture in the lab: tcpdump writing a pcap file inside one
 * namespace, and a reader for the UDP datagrams in it. The relay test uses it
 * to see exactly what coturn receives and forwards.
 */

export interface CapturedDatagram {
  src: Addr;
  dst: Addr;
  payload: Buffer;
}

export interface CaptureResult {
  /** The whole pcap file, headers included: what a byte search must not find a canary in. */
  raw: Buffer;
  datagrams: CapturedDatagram[];
}

/** How long tcpdump may take to start listening, or to flush and exit; a guard, not a measure. */
const TCPDUMP_WAIT_MS = 10_000;

export class Capture {
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly file: string,
  ) {
    child.stdout?.resume();
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
  }

  /** Resolves once tcpdump says it is listening (it says so on stderr after opening the interface). */
  static started(child: ChildProcess, file: string): Promise<Capture> {
    const capture = new Capture(child, file);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`tcpdump did not start: ${capture.stderr}`)),
        TCPDUMP_WAIT_MS,
      );
      const onData = () => {
        if (!capture.stderr.includes('listening on')) return;
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        resolve(capture);
      };
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump exited (${code}): ${capture.stderr}`));
      });
    });
  }

  /** Stops tcpdump (SIGINT: it flushes the file) and reads what it captured. */
  async stop(): Promise<CaptureResult> {
    const child = this.child;
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, TCPDUMP_WAIT_MS);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
      process.kill(child.pid, 'SIGINT');
      await exited;
    }
    const raw = readFileSync(this.file);
    return { raw, datagrams: parsePcap(raw) };
  }
}

const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_UDP = 17;
/**
 * Link types (tcpdump.org/linktypes.html) and where each puts the
 * ethertype and the network-layer packet: Ethernet on one veth; Linux
 * "cooked" v1 and v2 headers on `-i any`.
 */
const LINK_LAYERS: Record<number, { ethertypeAt: number; ipAt: number }> = {
  1: { ethertypeAt: 12, ipAt: 14 },
  113: { ethertypeAt: 14, ipAt: 16 },
  276: { ethertypeAt: 0, ipAt: 20 },
};

/**
 * The UDP-over-IPv4 datagrams of a classic pcap file (microsecond or
 * nanosecond, either byte order) with Ethernet or Linux cooked framing, as
 * tcpdump writes on a veth or on `any`. Anything else in it is skipped; a
 * malformed file throws.
 */
export function parsePcap(file: Buffer): CapturedDatagram[] {
  if (file.length < 24) throw new Error('pcap: shorter than its header');
  const magic = file.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`pcap: bad magic ${magic.toString(16)}`);
  const u32 = (at: number) => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const linktype = u32(20);
  const link = LINK_LAYERS[linktype];
  if (!link) throw new Error(`pcap: link type ${linktype} not read here`);
  const out: CapturedDatagram[] = [];
  let pos = 24;
  while (pos + 16 <= file.length) {
    const caplen = u32(pos + 8);
    const start = pos + 16;
    pos = start + caplen;
    if (pos > file.length) throw new Error('pcap: truncated record');
    const d = udpOf(file.subarray(start, pos), link);
    if (d) out.push(d);
  }
  return out;
}

function udpOf(
  frame: Buffer,
  link: { ethertypeAt: number; ipAt: number },
): CapturedDatagram | undefined {
  if (frame.length < link.ipAt + 20 + 8) return undefined;
  if (frame.readUInt16BE(link.ethertypeAt) !== ETHERTYPE_IPV4) return undefined;
  const ip = frame.subarray(link.ipAt);
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ip[0]! >> 4 !== 4 || ip[9] !== IPPROTO_UDP || ip.length < ihl + 8) return undefined;
  const udp = ip.subarray(ihl);
  const length = udp.readUInt16BE(4);
  const ipv4 = (at: number) => [...ip.subarray(at, at + 4)].join('.');
  return {
    src: { address: ipv4(12), port: udp.readUInt16BE(0) },
    dst: { address: ipv4(16), port: udp.readUInt16BE(2) },
    payload: udp.subarray(8, Math.min(length, udp.length)),
  };
}
