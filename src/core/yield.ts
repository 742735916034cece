/**
 * Resolves on a later turn of the event loop, so that a worker can receive messages (a cancel)
 * between steps of a long job. Uses `setImmediate` (Node) or a MessageChannel (browsers and
 * workers), which — unlike nested `setTimeout(0)` — are not clamped to 4 ms.
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
