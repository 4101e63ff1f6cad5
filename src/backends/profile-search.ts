import type { Profile } from '../core/profile.js';

/** The lower-cased email trait that profile search matches by prefix, if the profile has one. */
export function searchableEmail(profile: Profile): string | null {
  const email = profile.traits['email'];
  return typeof email === 'string' && email !== '' ? email.toLowerCase() : null;
}
