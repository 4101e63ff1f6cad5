/**
 * The in-app channel: each message becomes an item in the user's inbox (an `InboxStore`) and is
 * handed to `published`, which streams it to the user's open pages (the integrator passes
 * `InboxHub.publish`). The pages fetch the inbox and follow the stream (src/http/inbox-routes.ts).
 *
 * The item is stored under the user's identity key, `u:<userId>` when the user has one, else
 * `a:<anonymousId>`: keys never change when profiles merge, and the inbox of a user is read through
 * all their keys. Adding is idempotent by the message's idempotency key, so a retry never doubles
 * an item; it is published again, which streams drop as a repeat by its id, so a crash between
 * storing and publishing costs no live delivery.
 *
 * Outcomes: stored is delivered (the provider id is the item's id). Failed for good: content
 * with neither a `title` nor a `body` (`rejected`); a user without an identity key (`no_recipient`).
 * Retried: a failing identity lookup or store.
 */
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';
import type { InboxItem, InboxStore } from '../ports/inbox-store.js';
import { messageOf } from '../core/errors.js';

export interface InAppOptions {
  inbox: InboxStore;
  /** Called with each stored item, at once: streams it to the user's open pages. Default: nothing. */
  published?: (item: InboxItem) => void;
  /** The identity keys of a profile (`IngestPipeline.identitiesOf`). */
  identitiesOf: (workspaceId: string, profileId: string) => Promise<string[]>;
  /** How long an item stays in the inbox, in ms. Default 30 days. */
  ttlMs?: number;
  /** ms since the epoch, for `createdAt` and the expiry. Default `Date.now`. */
  now?: () => number;
}

export const defaultInAppTtlMs = 30 * 24 * 3600_000;

export class InAppChannel implements ChannelProvider {
  readonly kind = 'in-app';
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: InAppOptions) {
    this.ttlMs = options.ttlMs ?? defaultInAppTtlMs;
    this.now = options.now ?? Date.now;
  }

  async send(delivery: Delivery): Promise<DeliveryOutcome> {
    const { content, message, workspaceId } = delivery;
    if (!present(content['title']) && !present(content['body'])) return { status: 'failed', reason: 'rejected', error: 'in-app content has neither a title nor a body' };

    let identityKey: string | undefined;
    try {
      identityKey = recipientKey(await this.options.identitiesOf(workspaceId, message.profileId));
    } catch (error) {
      return { status: 'retry', error: `looking up the user's identities: ${messageOf(error)}` };
    }
    if (identityKey === undefined) return { status: 'failed', reason: 'no_recipient', error: 'the user has no user id or anonymous id' };

    const createdAt = this.now();
    let item: InboxItem;
    try {
      ({ item } = await this.options.inbox.add({
        workspaceId,
        identityKey,
        messageKey: delivery.idempotencyKey,
        triggerId: message.triggerId,
        content,
        createdAt,
        expiresAt: createdAt + this.ttlMs,
      }));
    } catch (error) {
      return { status: 'retry', error: `storing the inbox item: ${messageOf(error)}` };
    }
    this.options.published?.(item);
    return { status: 'delivered', providerId: String(item.id) };
  }
}

/** The key an item is stored under: the first user key, else the first anonymous key. */
export function recipientKey(identityKeys: readonly string[]): string | undefined {
  const sorted = [...identityKeys].sort();
  return sorted.find((k) => k.startsWith('u:')) ?? sorted.find((k) => k.startsWith('a:'));
}

function present(part: string | undefined): boolean {
  return part !== undefined && part.trim() !== '';
}
