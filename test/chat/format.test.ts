import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import {
  describeState,
  formatChatLine,
  formatPeerTable,
  formatTime,
  formatWhois,
} from '../../source/chat/format.js';
import type { PeerInfo } from '../../source/net/shell/socket.js';
import { peer } from '../ui/fixtures.js';

const FP = 'rhpvxvglnj77cxqvsswne6u3qob37r5fjkzxqh6fcnytl4mjweza';
const at = new Date(2024, 0, 2, 3, 4, 5).getTime();

/** bob as the table and /whois tests expect him (stats overrides second). */
function bob(over: Partial<PeerInfo> = {}, stats: Partial<PeerInfo['stats']> = {}): PeerInfo {
  return peer(
    'bob',
    { fingerprint: FP, state: { kind: 'connected', since: 0 }, ...over },
    { smoothedRtt: 1.234, minRtt: 1, lossRate: 0.1, lastSeen: at, ...stats },
  );
}

describe('formatting', () => {
  it('timestamps are HH:MM:SS local time', () => {
    expect(formatTime(at)).toBe('03:04:05');
  });

  it('formats incoming, private and own messages', () => {
    const base = { kind: 'message', time: at, from: 'bob', text: 'hi', own: false } as const;
    expect(formatChatLine({ ...base, private: false })).toBe('[03:04:05] <bob> hi');
    expect(formatChatLine({ ...base, private: true })).toBe('[03:04:05] (private) <bob> hi');
    expect(formatChatLine({ ...base, from: 'me', private: true, own: true, to: 'bob' })).toBe(
      '[03:04:05] (private) <me> -> bob: hi',
    );
    expect(formatChatLine({ kind: 'system', time: at, text: 'x' })).toBe('[03:04:05] -- x');
    expect(formatChatLine({ kind: 'error', time: at, text: 'x' })).toBe('[03:04:05] !! x');
  });

  it('peer text cannot inject escapes or fake a new line', () => {
    const line = formatChatLine({
      kind: 'message',
      time: at,
      from: 'bob',
      text: 'a\n[03:04:06] <alice> fake\u001b[2J\u202e',
      private: false,
      own: false,
    });
    expect(line).toBe('[03:04:05] <bob> a\\x0a[03:04:06] <alice> fake\\x1b[2J\\u202e');
    expect(line.split('\n')).toHaveLength(1);
  });

  it('lists peers with address, state, short key, rtt, retransmits and loss', () => {
    const rows = formatPeerTable([
      bob(),
      bob(
        {
          nick: 'al',
          address: undefined,
          fingerprint: undefined,
          state: { kind: 'connecting', since: 0, attempt: 2 },
        },
        { smoothedRtt: undefined, retransmits: 0, lossRate: 0 },
      ),
    ]);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^NICK\s+ADDRESS\s+STATE\s+KEY\s+RTT ms\s+RETX\s+LOSS$/);
    expect(rows[1]).toMatch(/^al\s+-\s+connecting\s+-\s+-\s+0\s+0\.0%$/);
    expect(rows[2]).toMatch(/^bob\s+127\.0\.0\.1:9000\s+connected\s+rhpvxvgl\s+1\.2\s+2\s+10\.0%$/);
    // Columns line up.
    expect(rows[0]!.indexOf('STATE')).toBe(rows[2]!.indexOf('connected'));
  });

  it('lines the /list columns up by display width, for wide nicks too', () => {
    const rows = formatPeerTable([bob({ nick: '漢字' }), bob({ nick: 'bobby' })]);
    const col = (row: string, text: string) => stringWidth(row.slice(0, row.indexOf(text)));
    expect(col(rows[1]!, '127.0.0.1')).toBe(col(rows[0]!, 'ADDRESS'));
    expect(col(rows[2]!, '127.0.0.1')).toBe(col(rows[0]!, 'ADDRESS'));
  });

  it('describes every state', () => {
    expect(describeState({ kind: 'connected', since: 0 })).toBe('connected');
    expect(describeState({ kind: 'connecting', since: 0, attempt: 0 })).toBe('connecting');
    expect(describeState({ kind: 'unreachable', since: 0, reason: 'no answer' })).toBe(
      'unreachable: no answer',
    );
    expect(
      describeState({
        kind: 'disconnected',
        since: 0,
        reason: 'closed',
        cause: { kind: 'remote', code: 0 },
      }),
    ).toBe('disconnected: closed');
    expect(
      describeState({ kind: 'key-mismatch', since: 0, expected: FP, got: 'x'.repeat(52) }),
    ).toBe('KEY CHANGED: expected rhpvxvgl, got xxxxxxxx');
  });

  it('whois of a peer still being dialled says there is no session, not "sent 0 packets"', () => {
    const dialling = formatWhois(
      bob(
        { state: { kind: 'connecting', since: 0, attempt: 7 } },
        { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0 },
      ),
    );
    expect(dialling[0]).toBe('bob: connecting (attempt 7)');
    expect(dialling.join('\n')).toMatch(/traffic\s+no session yet/);
    expect(dialling.join('\n')).not.toMatch(/sent\s+0 packets/);
    const gone = formatWhois(
      bob(
        {
          state: {
            kind: 'disconnected',
            since: 0,
            reason: 'x',
            cause: { kind: 'remote', code: 0 },
          },
        },
        { packetsSent: 9, bytesSent: 900 },
      ),
    );
    expect(gone.join('\n')).toMatch(/sent\s+9 packets, 900 bytes/);
  });

  it('whois shows the full fingerprint and statistics', () => {
    const lines = formatWhois(bob(), at + 3000);
    expect(lines[0]).toBe('bob: connected');
    expect(lines.join('\n')).toContain(FP);
    expect(lines.join('\n')).toMatch(/last seen\s+03:04:05 \(3 s ago\)/);
    expect(lines.join('\n')).toMatch(/datagrams\s+up to 1452 bytes \(path MTU\)/);
    expect(lines.join('\n')).toMatch(/sent\s+10 packets, 1000 bytes/);
    expect(formatWhois(bob({ pinned: false }))[0]).toBe('bob (named by itself): connected');
    expect(formatWhois(bob({ announcedNick: 'robert' }))[0]).toBe(
      'bob (calls itself robert): connected',
    );
  });
});
