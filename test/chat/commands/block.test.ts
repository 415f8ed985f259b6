import { describe } from 'vitest';
import { itTakesANickOrFingerprint } from './helpers.js';

describe('/block', () => {
  itTakesANickOrFingerprint('block');
});
