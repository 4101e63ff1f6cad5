/** Benchmarks on the shared Redis work under a key prefix of their own and remove only that. */
import type { Redis } from 'ioredis';

/** Deletes every key under `${prefix}:`; nothing else is touched. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<void> {
  for (let cursor = '0'; ; ) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    if ((cursor = next) === '0') break;
  }
}
