// Waiting in tests: a sleep, and a bounded poll (waitFor) that says what it
// was waiting for when it gives up.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls predicate every intervalMs until it returns a truthy value (which is
 * returned), or throws `timed out after ...ms waiting for <what>`. A predicate
 * that throws is treated as "not yet"; its last error is put in the message.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${why}`);
}
