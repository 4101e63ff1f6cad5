/** The shape every conformance suite shares: each test opens a fresh backend and cleans it up. */
import { test, type TestContext } from 'node:test';

export interface Opened<S> {
  store: S;
  cleanup: () => Promise<void>;
}

/** A `test` whose body gets a freshly opened store (and the opened handle, for reopening). */
export function perTestStore<S, O extends Opened<S>>(open: () => Promise<O>) {
  return (title: string, body: (store: S, opened: O, t: TestContext) => Promise<void>) =>
    test(title, async (t) => {
      const opened = await open();
      try {
        await body(opened.store, opened, t);
      } finally {
        await opened.cleanup();
      }
    });
}
