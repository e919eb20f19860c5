/**
 * A deadline on a driver call, the same way for every dialect: a server that stops
 * answering (a stopped process, a listener that accepts and never replies, a network that
 * drops every packet) keeps a driver's promise pending for as long as the TCP connection
 * lives, which is for ever. The call fails instead, with an error the dialect classifies
 * as "unavailable", and the caller ends the connection it was on.
 */

/** The error of a call that ran out of time (its `code` is read by the dialects' `classify`). */
export class DeadlineError extends Error {
  readonly code = "ETIMEDOUT";
  constructor(what: string, ms: number) {
    super(`the server did not answer ${what} within ${ms} ms`);
    this.name = "DeadlineError";
  }
}

/**
 * `task`, or a DeadlineError once `ms` have passed without it settling; `onTimeout` runs
 * then (to end the connection), and a value the task still delivers later goes to `late`
 * (to give a connection back). The timer never holds a program open.
 */
export function withDeadline<T>(task: Promise<T>, ms: number, what: string, onTimeout?: () => void, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      try {
        onTimeout?.();
      } finally {
        reject(new DeadlineError(what, ms));
      }
    }, ms);
    timer.unref();
    task.then(
      (value) => {
        clearTimeout(timer);
        if (expired) late?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!expired) reject(error);
      },
    );
  });
}
