import { useSyncExternalStore } from 'react';
import type { ChatState } from '../../chat/reducer.js';
import type { ChatStore } from '../../chat/store.js';

/**
 * The store's published state: re-renders only as often as the store
 * notifies (throttled), or when the screen publishes before a frame of its own.
 */
export function useChatState(store: ChatStore): ChatState {
  return useSyncExternalStore(store.subscribe, store.snapshot, store.snapshot);
}
