/** Waiting on a writable stream that said "no more for now". */

/**
 * Resolves when `stream` drains or closes: a destroyed stream never drains, so the writer
 * wakes up either way and checks the stream's state itself.
 */
export function drainedOrClosed(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}
