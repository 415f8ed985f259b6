import { useEffect } from 'react';
import type { SocketEventSource } from '../../chat/controller.js';
import { lookingUp } from '../../chat/netformat.js';
import { lapsedStranger } from '../../chat/reducer.js';
import type { ChatStore } from '../../chat/store.js';
import type { MultiHolepunchSocket } from '../../index.js';
import { shownStatsKey } from '../Stats.js';

/**
 * What the screen reads from the transport (a fake in tests). The chat's is
 * the worker-backed socket (source/app/remotesocket.ts): peers() and stats()
 * there read what the worker last pushed, never across threads.
 */
export type TransportView = SocketEventSource & Pick<MultiHolepunchSocket, 'peers' | 'stats'>;

/**
 * Feeds the transport into the store: every 'peer' change and every 'stats'
 * tick (≤ 4/s, emitted only while someone listens) refreshes the peers with
 * their live path stats. Only a change the panes would show reaches the
 * store: an idle chat's ticks then render nothing (no clock in the state).
 */
export function useTransport(
  socket: TransportView,
  store: ChatStore,
  now: () => number = Date.now,
): void {
  useEffect(() => {
    let peersKey = '';
    let statsKey = '';
    const refresh = () => {
      const peers = socket.peers();
      const at = now();
      // A stranger's minute running out changes the pane with no news from
      // the transport: it counts as a change too.
      const lapsed = store.getState().shown.filter((p) => lapsedStranger(p, at)).length;
      // Names added by key and not found yet are no peers of the transport's:
      // the pane shows them from discovery's stats.
      const searching = lookingUp(socket.stats().discovery);
      const key = `${lapsed}|${searching.join(',')}|${JSON.stringify(peers)}`;
      if (key === peersKey) return;
      peersKey = key;
      store.dispatch({ type: 'peers', peers, now: at, lookingUp: searching });
    };
    const onStats = (stats: ReturnType<TransportView['stats']>) => {
      const key = shownStatsKey(stats);
      if (key !== statsKey) {
        statsKey = key;
        store.dispatch({ type: 'stats', stats });
      }
      refresh();
    };
    socket.on('peer', refresh);
    socket.on('stats', onStats);
    onStats(socket.stats());
    return () => {
      socket.off('peer', refresh);
      socket.off('stats', onStats);
    };
  }, [socket, store, now]);
}
