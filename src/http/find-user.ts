/** The profile a request names by user id (or anonymous or profile id), or a 404 naming the field. */
import type { Profile } from '../core/profile.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import { HttpError } from './errors.js';

export async function findUser(pipeline: IngestPipeline, workspaceId: string, userId: string): Promise<Profile> {
  const profile = await pipeline.profile(workspaceId, userId);
  if (!profile) throw new HttpError(404, 'not_found', `userId: no user "${userId}" in workspace "${workspaceId}"`);
  return profile;
}
