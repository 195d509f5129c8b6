/**
 * Waits for `work` or `ms`, whichever comes first: a stop that must end in
 * bounded time. The timer is cleared as soon as the work is done.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
