import { useSyncExternalStore } from 'react';
import type { ChatState } from '../../chat/reducer.js';
import type { ChatStore } from '../../chat/store.js';

/** The store's state; re-renders only as often as the store notifies (throttled). */
export function useChatState(store: ChatStore): ChatState {
  return useSyncExternalStore(store.subscribe, store.getState, store.getState);
}
