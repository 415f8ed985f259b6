import { Text } from 'ink';
import { clip } from './theme.js';

/** The key help line under the panes. Props only. */

export interface StatusBarProps {
  bell: boolean;
  width: number;
}

export function StatusBar({ bell, width }: StatusBarProps) {
  const text = `PgUp/PgDn scroll · End follow · ↑/↓ history · Tab complete · /help · /bell ${bell ? 'on' : 'off'} · Ctrl+C quit`;
  return (
    <Text dimColor wrap="truncate-end">
      {clip(text, width)}
    </Text>
  );
}
