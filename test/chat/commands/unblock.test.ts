import { describe } from 'vitest';
import { itTakesANickOrFingerprint } from './helpers.js';

describe('/unblock', () => {
  itTakesANickOrFingerprint('unblock');
});
