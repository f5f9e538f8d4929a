/**
 * A prune as a series of deletes of at most `chunkSize` rows each (one statement, one transaction
 * apiece), until fewer than asked for are left or `limit` are gone; `pause` runs between two.
 * Returns how many were deleted.
 */
export async function pruneInChunks(
  limit: number,
  chunkSize: number,
  deleteChunk: (size: number) => Promise<number>,
  pause?: () => Promise<void>,
): Promise<number> {
  let total = 0;
  for (;;) {
    const chunk = Math.min(chunkSize, limit - total);
    const deleted = await deleteChunk(chunk);
    total += deleted;
    if (deleted < chunk || total >= limit) return total;
    await pause?.();
  }
}
