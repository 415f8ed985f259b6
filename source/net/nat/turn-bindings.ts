import { type Addr, addrKey } from '../core/address.js';
import { UsageError } from '../core/errors.js';
import { CHANNEL_MAX, CHANNEL_MIN } from './turn-codec.js';

/**
 * What a TURN allocation lets through, with no I/O: permissions by peer IP
 * (RFC 8656 §9: 300 s each) and channels by peer address (§12: 600 s). Each
 * is refreshed at 80 % of its life, so a full transaction (≈ 40 s of
 * retransmissions) still fits before it lapses. A channel's permission is
 * kept on its own timer: the channel's refresh (480 s) would come too late.
 */

export const PERMISSION_LIFETIME_MS = 300_000;
export const CHANNEL_LIFETIME_MS = 600_000;
export const REFRESH_FRACTION = 0.8;

export interface Permission {
  /** True once the server confirmed it (by CreatePermission or ChannelBind). */
  installed: boolean;
  refreshAt: number;
}

export interface Channel {
  peer: Addr;
  channel: number;
  /** True once the server confirmed it; before, nothing is sent or accepted on it (§12.1). */
  bound: boolean;
  refreshAt: number;
}

export class TurnBindings {
  private readonly permissions = new Map<string, Permission>();
  private readonly byPeer = new Map<string, Channel>();
  private readonly byNumber = new Map<number, Channel>();
  private nextChannel = CHANNEL_MIN;

  /** Adds a permission not yet asked for; false when there is one already. */
  addPermission(ip: string): boolean {
    if (this.permissions.has(ip)) return false;
    this.permissions.set(ip, { installed: false, refreshAt: Number.POSITIVE_INFINITY });
    return true;
  }

  hasPermission(ip: string): boolean {
    return this.permissions.has(ip);
  }

  /** True when data from `ip` may be delivered: the server confirmed a permission. */
  permitted(ip: string): boolean {
    return this.permissions.get(ip)?.installed === true;
  }

  /** Marks a permission confirmed at `now`; true the first time. */
  permissionInstalled(ip: string, now: number): boolean {
    const p = this.permissions.get(ip);
    if (!p) return false;
    const first = !p.installed;
    p.installed = true;
    p.refreshAt = now + PERMISSION_LIFETIME_MS * REFRESH_FRACTION;
    return first;
  }

  dropPermission(ip: string): void {
    this.permissions.delete(ip);
  }

  /** Dropped only if it was never installed (a refused ChannelBind was its only request). */
  dropUninstalledPermission(ip: string): void {
    if (this.permissions.get(ip)?.installed === false) this.permissions.delete(ip);
  }

  channelOf(peer: Addr): Channel | undefined {
    return this.byPeer.get(addrKey(peer));
  }

  channel(number: number): Channel | undefined {
    return this.byNumber.get(number);
  }

  /** A new channel for `peer`, numbered from 0x4000 up (§12: 0x4000-0x4FFF). */
  addChannel(peer: Addr): Channel {
    if (this.nextChannel > CHANNEL_MAX) throw new UsageError('every TURN channel number is in use');
    const ch: Channel = {
      peer,
      channel: this.nextChannel++,
      bound: false,
      refreshAt: Number.POSITIVE_INFINITY,
    };
    this.byPeer.set(addrKey(peer), ch);
    this.byNumber.set(ch.channel, ch);
    return ch;
  }

  /** Marks a channel confirmed at `now` (and its permission, §12.2); true the first time. */
  channelBound(number: number, now: number): boolean {
    const c = this.byNumber.get(number);
    if (!c) return false;
    const first = !c.bound;
    c.bound = true;
    c.refreshAt = now + CHANNEL_LIFETIME_MS * REFRESH_FRACTION;
    this.permissionInstalled(c.peer.address, now);
    return first;
  }

  dropChannel(number: number): void {
    const c = this.byNumber.get(number);
    if (!c) return;
    this.byNumber.delete(number);
    this.byPeer.delete(addrKey(c.peer));
  }

  /** The earliest refresh due, or +Infinity. */
  nextRefresh(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const p of this.permissions.values()) at = Math.min(at, p.refreshAt);
    for (const c of this.byPeer.values()) at = Math.min(at, c.refreshAt);
    return at;
  }

  /** Permissions and channels whose refresh is due; each is taken off the timer until confirmed again. */
  due(now: number): { ips: string[]; channels: Channel[] } {
    const ips: string[] = [];
    const channels: Channel[] = [];
    for (const [ip, p] of this.permissions) {
      if (now < p.refreshAt) continue;
      p.refreshAt = Number.POSITIVE_INFINITY;
      ips.push(ip);
    }
    for (const c of this.byPeer.values()) {
      if (now < c.refreshAt) continue;
      c.refreshAt = Number.POSITIVE_INFINITY;
      channels.push(c);
    }
    return { ips, channels };
  }

  clear(): void {
    this.permissions.clear();
    this.byPeer.clear();
    this.byNumber.clear();
  }
}
