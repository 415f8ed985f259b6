import { useEffect } from 'react';
import type { SocketEventSource } from '../../chat/controller.js';
import type { ChatStore } from '../../chat/store.js';
import type { MultiHolepunchSocket } from '../../index.js';

/**
 * What the screen reads from the transport (a fake in tests). The chat's is
 * the worker-backed socket (source/app/remotesocket.ts): peers() and stats()
 * there read what the worker last pushed, never across threads.
 */
export type TransportView = SocketEventSource & Pick<MultiHolepunchSocket, 'peers' | 'stats'>;

/**
 * Feeds the transport into the store: every 'peer' change and every 'stats'
 * tick (≤ 4/s, emitted only while someone listens) refreshes the peers with
 * their live path stats, so the panes update at least once a second.
 */
export function useTransport(
  socket: TransportView,
  store: ChatStore,
  now: () => number = Date.now,
): void {
  useEffect(() => {
    const refresh = () => store.dispatch({ type: 'peers', peers: socket.peers(), now: now() });
    const onStats = (stats: ReturnType<TransportView['stats']>) => {
      store.dispatch({ type: 'stats', stats });
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
