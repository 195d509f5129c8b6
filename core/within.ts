/**
 * Waits for `work` or `ms`, whichever comes first: a stop that must end in
 * bounded time. The timer is cleared as soon as the work is done. Answers
 * whether the work was done in time.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
