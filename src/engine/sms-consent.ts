/**
 * SMS opt-outs onto the users they concern. A STOP texted back (or Twilio refusing a number as
 * unsubscribed, 21610) turns the SMS channel off in the consent of the users whose texts go to
 * that number, and START turns it on again, through `ConsentService` like an email unsubscribe:
 * a committed identify event, then `Consent Updated` and (for an opt-out) `Unsubscribed` on each
 * user's timeline, with `channel` and `keyword`.
 *
 * A number says STOP, not a user. Who it concerns is who Nudge texted at that number: as each text
 * is accepted, `texted` records its recipient (`SmsOptOutStore.recordRecipient`, by identity key).
 * Of those, the `recipientsLimit` most recently texted, and only those whose `phone` trait is still
 * that number: a number that changed hands, or that a user replaced, leaves its former users
 * alone. A number Nudge never texted maps to nobody: profiles cannot be found by `phone` without
 * reading them all (profile search is indexed by ids and email only), which a webhook must not do.
 * Its opt-out still holds, on the number: the channel checks the opt-out store before every text,
 * and the provider refuses the number too.
 *
 * Consent keys: STOP sets `<channel>: false` (the SMS channel's name, `sms`), the whole channel
 * rather than `sms:marketing`, because a carrier refuses every text from the sender to a number
 * that said STOP, transactional ones included, and the consent shown should say what will happen.
 * START sets `<channel>: true`: texting START is an explicit opt-in to texts. A narrower key such
 * as `sms:marketing: false` still holds after it (the most specific key wins).
 */
import { anonKey, userKey } from '../core/ingest-fold.js';
import type { Profile } from '../core/profile.js';
import type { SmsOptOutStore } from '../ports/sms-opt-out-store.js';
import type { ConsentService } from './consent.js';

export interface SmsConsentOptions {
  optOuts: SmsOptOutStore;
  consent: ConsentService;
  /** The live profile of a user id, anonymous id or profile id. */
  profile: (workspaceId: string, id: string) => Promise<Profile | null>;
  /** The SMS channel's name: its consent key, and `channel` on the timeline. Default `sms`. */
  channel?: string;
  /** Most users one number's keyword changes, the most recently texted first. Default 10. */
  recipientsLimit?: number;
}

/** Where a keyword came from, for the timeline: `sms` (texted back). */
const source = 'sms';

export class SmsConsent {
  private readonly channel: string;

  constructor(private readonly options: SmsConsentOptions) {
    this.channel = options.channel ?? 'sms';
  }

  /** A text to `phone` for the profile was accepted at `at`: the number is remembered as theirs. */
  async texted(workspaceId: string, profileId: string, phone: string, at: number): Promise<void> {
    const profile = await this.options.profile(workspaceId, profileId);
    const key = profile && identityKeyOf(profile);
    if (key) await this.options.optOuts.recordRecipient(workspaceId, phone, key, at);
  }

  /**
   * The store applied an opt-out the number texted (`keyword`: STOP …): the channel off for its
   * users. Resolves with the profile ids changed, once every change is committed.
   */
  optedOut(workspaceId: string, phone: string, keyword: string): Promise<string[]> {
    return this.change(workspaceId, phone, { allowed: false, keyword, byUser: true });
  }

  /**
   * The store applied an opt-out the provider reported while sending to `profileId` (`keyword`:
   * `twilio:21610`): as `optedOut`, for that user too, and not counted as anyone's activity.
   */
  reportedOptOut(workspaceId: string, phone: string, keyword: string, profileId: string): Promise<string[]> {
    return this.change(workspaceId, phone, { allowed: false, keyword, byUser: false, profileId });
  }

  /** The store applied an opt-in of `phone` (START …): the channel on again for its users. */
  optedIn(workspaceId: string, phone: string, keyword: string): Promise<string[]> {
    return this.change(workspaceId, phone, { allowed: true, keyword, byUser: true });
  }

  private async change(workspaceId: string, phone: string, c: { allowed: boolean; keyword: string; byUser: boolean; profileId?: string }): Promise<string[]> {
    const users = await this.usersOf(workspaceId, phone, c.profileId);
    await Promise.all(
      users.map((id) =>
        this.options.consent.update(workspaceId, id, {
          changes: { [this.channel]: c.allowed },
          source,
          properties: { channel: this.channel, keyword: c.keyword },
          byUser: c.byUser,
        }),
      ),
    );
    return users;
  }

  /** The profile ids of the users whose texts go to `phone`: recorded recipients (and `profileId`) still having it. */
  private async usersOf(workspaceId: string, phone: string, profileId?: string): Promise<string[]> {
    const recipients = await this.options.optOuts.recipientsOf(workspaceId, phone, this.options.recipientsLimit);
    // An identity key's id is found as a user id, then an anonymous id (as the inbox's keys are).
    const ids = [...(profileId === undefined ? [] : [profileId]), ...recipients.map((r) => r.recipient.slice(2))];
    const found = new Set<string>();
    for (const id of ids) {
      const profile = await this.options.profile(workspaceId, id);
      if (profile && profile.traits['phone'] === phone) found.add(profile.profileId);
    }
    return [...found];
  }
}

/** The key a profile is remembered by: its user id, else its first anonymous id; null with neither. */
function identityKeyOf(profile: Profile): string | null {
  if (profile.userId !== null) return userKey(profile.userId);
  const anonymousId = profile.anonymousIds[0];
  return anonymousId === undefined ? null : anonKey(anonymousId);
}
