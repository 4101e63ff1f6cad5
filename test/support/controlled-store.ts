/**
 * A fault injector around a real store: it can make the next commits fail (before anything is
 * written, as the contract requires of a failed commit), fail every commit after the n-th (a
 * crash), or hold them until released, so a test decides when a group commit finishes. Everything else goes straight to the real store.
 */
import type { Commit, CommitReceipt, Store } from '../../src/ports/store.js';

export class ControlledStore implements Store {
  readonly capabilities;
  readonly events;
  readonly profiles;
  /** Every commit the real store took, in order. */
  readonly committed: Commit[] = [];
  private failures = 0;
  /** Commits still allowed before the store "dies" (every later commit fails); null: never. */
  private commitsToLive: number | null = null;
  private gate: Promise<void> | null = null;
  private waiting: (() => void)[] = [];

  constructor(readonly inner: Store) {
    this.capabilities = inner.capabilities;
    this.events = inner.events;
    this.profiles = inner.profiles;
  }

  /** The next `n` commits reject with a store error and write nothing. */
  failNextCommits(n: number): void {
    this.failures = n;
  }

  /**
   * After `n` more commits every commit fails, as if the process had died right after the n-th:
   * what the real store holds then is what a restart finds.
   */
  dieAfterCommits(n: number): void {
    this.commitsToLive = n;
  }

  /** Commits wait until the returned function is called. */
  holdCommits(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gate = null;
      release();
    };
  }

  /** Resolves once a commit is waiting at the gate. */
  commitArrived(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async commit(changes: Commit): Promise<CommitReceipt> {
    for (const notify of this.waiting.splice(0)) notify();
    if (this.gate) await this.gate;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('injected: the store is unavailable');
    }
    if (this.commitsToLive !== null && this.commitsToLive-- <= 0) throw new Error('injected: the process died');
    const receipt = await this.inner.commit(changes);
    this.committed.push(changes);
    return receipt;
  }

  checkpoint(): Promise<number> {
    return this.inner.checkpoint();
  }

  exportUser(workspaceId: string, profileId: string) {
    return this.inner.exportUser(workspaceId, profileId);
  }

  eraseUser(workspaceId: string, profileId: string) {
    return this.inner.eraseUser(workspaceId, profileId);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
