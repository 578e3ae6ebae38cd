// Server-sent events the way OpenAI streams: `data: <json>\n\n` per chunk, then `data: [DONE]`.
const encoder = new TextEncoder();

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // nginx and similar proxies must not buffer a token stream
  'x-accel-buffering': 'no',
} as const;

/**
 * A streaming response from an async iterable of JSON events. `cancel` runs when the client goes
 * away (the body is cancelled); an error thrown by `events` is sent as one OpenAI error event
 * (`data: {"error": ...}`, which the SDKs raise), and the stream ends without [DONE].
 */
export function sseResponse(
  events: AsyncIterable<unknown>,
  handlers: { cancel: () => void; error: (err: unknown) => unknown; headers?: Record<string, string>; keepAliveMs?: number },
): Response {
  const it = events[Symbol.asyncIterator]();
  // the next event, awaited across keep-alive comments (a long prefill sends nothing for a while,
  // and proxies close streams that stay silent; SSE clients ignore comment lines)
  let pending: Promise<IteratorResult<unknown>> | null = null;
  const keepAliveMs = handlers.keepAliveMs ?? 15_000;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        pending ??= it.next();
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<'quiet'>((resolve) => (timer = setTimeout(() => resolve('quiet'), keepAliveMs)));
        const next = await Promise.race([pending, quiet]).finally(() => clearTimeout(timer));
        if (next === 'quiet') {
          controller.enqueue(encoder.encode(': keep-alive\n\n'));
          return;
        }
        pending = null;
        const { value, done } = next;
        if (done) {
          controller.enqueue(encoder.encode('data: [DONE]\n\n'));
          controller.close();
        } else {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(value)}\n\n`));
        }
      } catch (err) {
        try {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(handlers.error(err))}\n\n`));
          controller.close();
        } catch {
          // already cancelled by the client: nothing to send it to
        }
      }
    },
    cancel() {
      // aborting makes a pending it.next() settle; return() runs the iterator's cleanup when it
      // is parked at a yield (the client stopped reading while no chunk was being produced)
      handlers.cancel();
      it.return?.(undefined).catch(() => undefined);
    },
  });
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...handlers.headers } });
}
