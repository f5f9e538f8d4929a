import { describe } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { startOnVirtualClock } from './conformance/harness.ts';
import { storeConformance } from './conformance/index.ts';

describe('MemoryStore', () => {
  storeConformance(() => startOnVirtualClock(new MemoryStore()));
});
