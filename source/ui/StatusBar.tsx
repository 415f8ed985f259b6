import { Text } from 'ink';

/** The key help line under the panes. Props only. */

export interface StatusBarProps {
  bell: boolean;
  width: number;
}

export function StatusBar({ bell, width }: StatusBarProps) {
  const text = `PgUp/PgDn scroll · End follow · ↑/↓ history · Tab complete · /help · /bell ${bell ? 'on' : 'off'} · Ctrl+C quit`;
  return (
    <Text dimColor wrap="truncate-end">
      {text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text}
    </Text>
  );
}
