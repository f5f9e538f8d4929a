import { randomFillSync } from 'node:crypto';

/**
 * UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids sort by creation
 * time, which keeps B-tree indexes compact in the SQL stores and gives stable paging order.
 * Within one millisecond a 12-bit counter keeps ids from this process increasing.
 */
const pool = new Uint8Array(16 * 256);
let poolOffset = pool.length;
let lastMs = -1;
let counter = 0;

export function uuidv7(nowMs: number = Date.now()): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;

  let ms = Math.floor(nowMs);
  if (ms <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
    ms = lastMs;
  } else {
    lastMs = ms;
    counter = (bytes[6] ?? 0) & 0x07; // start low so the counter rarely overflows
  }

  const high = Math.floor(ms / 0x1000000);
  const low = ms % 0x1000000;
  const head = [
    (high >>> 16) & 0xff,
    (high >>> 8) & 0xff,
    high & 0xff,
    (low >>> 16) & 0xff,
    (low >>> 8) & 0xff,
    low & 0xff,
    0x70 | ((counter >>> 8) & 0x0f),
    counter & 0xff,
    0x80 | ((bytes[8] ?? 0) & 0x3f),
  ];
  let hex = '';
  for (let i = 0; i < 16; i++) {
    const byte = i < 9 ? (head[i] ?? 0) : (bytes[i] ?? 0);
    hex += HEX[byte];
    if (i === 3 || i === 5 || i === 7 || i === 9) hex += '-';
  }
  return hex;
}

const HEX: string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
