/** Public library entry: `import { MultiHolepunchSocket } from 'srmudp-tui'`. */
export { BadPacket, TransportError, UsageError } from './net/errors.js';
