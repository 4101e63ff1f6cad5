/**
 * The contract of `SmsOptOutStore` (src/ports/sms-opt-out-store.ts) that every backend must pass.
 * A backend's test file calls `smsOptOutStoreConformance` with a factory that opens a fresh, empty
 * store; durable backends also give `reopen`, which opens the same data again as a new process would.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { perTestStore } from '../support/conformance.js';
import { NudgeError } from '../../src/core/errors.js';
import type { SmsConsentRecord, SmsOptOutStore, SmsRecipient } from '../../src/ports/sms-opt-out-store.js';

export interface OpenedSmsOptOutStore {
  store: SmsOptOutStore;
  /** Closes `store` and opens the same data again; required when `capabilities.durable`. */
  reopen?: () => Promise<SmsOptOutStore>;
  cleanup: () => Promise<void>;
}

const t0 = Date.UTC(2026, 10, 29, 10, 0, 0);
const ann = '+14155550100';
const bob = '+447700900123';
const cid = '+33612345678';
const out = (workspaceId: string, phone: string, at: number, keyword: string): SmsConsentRecord => ({ workspaceId, phone, optedOut: true, at, keyword });
const inn = (workspaceId: string, phone: string, at: number): SmsConsentRecord => ({ workspaceId, phone, optedOut: false, at, keyword: null });

const sent = (workspaceId: string, phone: string, recipient: string, at: number): SmsRecipient => ({ workspaceId, phone, recipient, at });

/** The consent records of these numbers, as an export gives them. */
async function records(store: SmsOptOutStore, workspaceId: string, phones: readonly string[]): Promise<SmsConsentRecord[]> {
  return (await store.exportUser(workspaceId, { phones, identities: [] })).consent;
}

async function listAll(store: SmsOptOutStore, workspaceId: string, limit: number): Promise<SmsConsentRecord[][]> {
  const pages: SmsConsentRecord[][] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list(workspaceId, { limit, cursor });
    pages.push(page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return pages;
}

export function smsOptOutStoreConformance(name: string, open: () => Promise<OpenedSmsOptOutStore>): void {
  const it = perTestStore<SmsOptOutStore, OpenedSmsOptOutStore>(open);

  describe(`SmsOptOutStore conformance: ${name}`, () => {
    it('a number never seen is not opted out; STOP opts it out, START opts it in again', async (store) => {
      assert.equal(await store.isOptedOut('w1', ann), false);
      assert.equal(await store.optOut('w1', ann, t0, 'STOP'), true);
      assert.equal(await store.isOptedOut('w1', ann), true);
      assert.equal(await store.isOptedOut('w1', bob), false, 'only that number');
      assert.equal(await store.isOptedOut('w2', ann), false, 'only in that workspace');
      assert.equal(await store.optIn('w1', ann, t0 + 1000), true);
      assert.equal(await store.isOptedOut('w1', ann), false);
      assert.deepEqual(await records(store, 'w1', [ann]), [inn('w1', ann, t0 + 1000)]);
    });

    it('a change older than the record is ignored, both ways; equal times: the later call wins', async (store) => {
      await store.optOut('w1', ann, t0 + 100, 'STOP');
      assert.equal(await store.optIn('w1', ann, t0 + 99), false, 'a START that happened before the STOP arrives late');
      assert.equal(await store.isOptedOut('w1', ann), true);

      await store.optIn('w1', bob, t0 + 100);
      assert.equal(await store.optOut('w1', bob, t0 + 50, 'STOP'), false, 'a STOP that happened before the START arrives late');
      assert.equal(await store.isOptedOut('w1', bob), false);

      assert.equal(await store.optIn('w1', ann, t0 + 100), true);
      assert.equal(await store.isOptedOut('w1', ann), false);
      assert.equal(await store.optOut('w1', ann, t0 + 100, 'QUIT'), true);
      assert.deepEqual(await records(store, 'w1', [ann, bob]), [out('w1', ann, t0 + 100, 'QUIT'), inn('w1', bob, t0 + 100)].sort((a, b) => (a.phone < b.phone ? -1 : 1)));
    });

    it('opting out again keeps the number out, with the newer keyword and time', async (store) => {
      await store.optOut('w1', ann, t0, 'STOP');
      assert.equal(await store.optOut('w1', ann, t0 + 5, 'twilio:21610'), true);
      assert.deepEqual(await records(store, 'w1', [ann]), [out('w1', ann, t0 + 5, 'twilio:21610')]);
    });

    it('list pages through the opted-out numbers of one workspace, by number, opt-ins left out', async (store) => {
      const numbers = Array.from({ length: 7 }, (_, i) => `+1415555010${i}`);
      for (const [i, phone] of [...numbers].reverse().entries()) await store.optOut('w1', phone, t0 + i, 'STOP');
      await store.optIn('w1', numbers[3]!, t0 + 100);
      await store.optIn('w1', '+19995550000', t0);
      await store.optOut('w2', '+10005550000', t0, 'STOP');

      const pages = await listAll(store, 'w1', 2);
      assert.deepEqual(pages.map((p) => p.length), [2, 2, 2]);
      const listed = pages.flat();
      assert.deepEqual(listed.map((r) => r.phone), numbers.filter((_, i) => i !== 3));
      assert.deepEqual(listed[0], out('w1', numbers[0]!, t0 + 6, 'STOP'));
      assert.deepEqual(await store.list('w3'), { items: [], nextCursor: null });
      assert.deepEqual((await store.list('w1', { limit: 6 })).nextCursor, null, 'an exactly full last page has no next cursor');
    });

    it('a cursor that is not one of ours is an input error naming the cursor', async (store) => {
      await assert.rejects(store.list('w1', { cursor: 'not-a-cursor' }), (e: unknown) => e instanceof NudgeError && e.code === 'invalid_request' && e.issues[0]?.path === 'cursor');
    });

    it('exportUser gives the records of the given numbers in that workspace only, by number', async (store) => {
      await store.optOut('w1', bob, t0, 'UNSUBSCRIBE');
      await store.optIn('w1', ann, t0 + 1);
      await store.optOut('w1', cid, t0 + 2, 'STOP');
      await store.optOut('w2', ann, t0 + 3, 'STOP');
      assert.deepEqual(await records(store, 'w1', [bob, ann, ann, '+15555550000', 'not a number']), [inn('w1', ann, t0 + 1), out('w1', bob, t0, 'UNSUBSCRIBE')]);
      assert.deepEqual(await records(store, 'w1', []), []);
      assert.deepEqual(await records(store, 'w2', [ann, bob]), [out('w2', ann, t0 + 3, 'STOP')]);
    });

    it('eraseUser deletes the records of the given numbers in that workspace only, and counts them', async (store) => {
      await store.optOut('w1', ann, t0, 'STOP');
      await store.optIn('w1', bob, t0);
      await store.optOut('w1', cid, t0, 'STOP');
      await store.optOut('w2', ann, t0, 'STOP');
      assert.equal(await store.eraseUser('w1', { phones: [ann, bob, bob, '+15555550000'], identities: [] }), 2);
      assert.deepEqual(await records(store, 'w1', [ann, bob, cid]), [out('w1', cid, t0, 'STOP')]);
      assert.equal(await store.isOptedOut('w1', ann), false, 'erasure forgets the opt-out');
      assert.equal(await store.isOptedOut('w2', ann), true);
      assert.equal(await store.eraseUser('w1', { phones: [ann, bob], identities: [] }), 0);
      assert.equal(await store.eraseUser('w1', { phones: [], identities: [] }), 0);
      assert.equal(await store.optIn('w1', ann, t0 - 1000), true, 'after erasure no record is newer');
    });

    it('a change with a number that is not E.164, a time that is not an integer or no keyword is refused, naming the field', async (store) => {
      const refused = (path: string) => (e: unknown) => e instanceof NudgeError && e.code === 'invalid_input' && e.issues.some((i) => i.path === path);
      for (const phone of ['14155550100', '+0155550100', '+1 415 555 0100', '+1415555010012345', '+1', 'whatsapp:+14155550100', '']) {
        await assert.rejects(store.optOut('w1', phone, t0, 'STOP'), refused('phone'), phone);
        await assert.rejects(store.optIn('w1', phone, t0), refused('phone'), phone);
      }
      await assert.rejects(store.optOut('w1', ann, 1.5, 'STOP'), refused('at'));
      await assert.rejects(store.optIn('w1', ann, Number.NaN), refused('at'));
      await assert.rejects(store.optOut('w1', ann, t0, ''), refused('keyword'));
      await assert.rejects(store.optOut('', ann, t0, 'STOP'), refused('workspaceId'));
      assert.deepEqual(await store.list('w1'), { items: [], nextCursor: null }, 'nothing was stored');
      assert.ok(await store.optOut('w1', '+12', t0, 'STOP'), 'the shortest E.164 number');
      assert.ok(await store.optOut('w1', '+141555501001234', t0, 'STOP'), 'the longest: 15 digits');
    });

    it('recipients: one entry per number and recipient, the latest time kept, the most recent first', async (store) => {
      assert.deepEqual(await store.recipientsOf('w1', ann), [], 'a number never texted has no recipients');
      await store.recordRecipient('w1', ann, 'u:ada', t0);
      await store.recordRecipient('w1', ann, 'u:ben', t0 + 10);
      await store.recordRecipient('w1', ann, 'a:anon-1', t0 + 5);
      await store.recordRecipient('w1', bob, 'u:ada', t0 + 20);
      await store.recordRecipient('w2', ann, 'u:cat', t0 + 30);
      assert.deepEqual(await store.recipientsOf('w1', ann), [sent('w1', ann, 'u:ben', t0 + 10), sent('w1', ann, 'a:anon-1', t0 + 5), sent('w1', ann, 'u:ada', t0)]);

      await store.recordRecipient('w1', ann, 'u:ada', t0 + 50);
      assert.deepEqual((await store.recipientsOf('w1', ann))[0], sent('w1', ann, 'u:ada', t0 + 50), 'texted again: first now');
      await store.recordRecipient('w1', ann, 'u:ada', t0 + 1);
      assert.deepEqual((await store.recipientsOf('w1', ann))[0], sent('w1', ann, 'u:ada', t0 + 50), 'an older time arriving late does not move it back');
      assert.equal((await store.recipientsOf('w1', ann)).length, 3, 'still one entry per recipient');
      assert.deepEqual(await store.recipientsOf('w1', bob), [sent('w1', bob, 'u:ada', t0 + 20)], 'only that number');
      assert.deepEqual(await store.recipientsOf('w2', ann), [sent('w2', ann, 'u:cat', t0 + 30)], 'only in that workspace');
    });

    it('recipientsOf gives at most limit (default 10, at most 100), equal times ordered by recipient', async (store) => {
      for (let i = 0; i < 120; i++) await store.recordRecipient('w1', ann, `u:user-${String(i).padStart(3, '0')}`, t0 + Math.floor(i / 2));
      const ten = await store.recipientsOf('w1', ann);
      assert.deepEqual(ten.map((r) => r.recipient), ['u:user-118', 'u:user-119', 'u:user-116', 'u:user-117', 'u:user-114', 'u:user-115', 'u:user-112', 'u:user-113', 'u:user-110', 'u:user-111']);
      assert.equal((await store.recipientsOf('w1', ann, 3)).length, 3);
      assert.equal((await store.recipientsOf('w1', ann, 1000)).length, 100);
      assert.equal((await store.recipientsOf('w1', ann, 0)).length, 1);
    });

    it('opting out or in leaves the recipients; a recipient that is not an identity key, or a bad number or time, is refused naming the field', async (store) => {
      await store.recordRecipient('w1', ann, 'u:ada', t0);
      await store.optOut('w1', ann, t0 + 1, 'STOP');
      await store.optIn('w1', ann, t0 + 2);
      assert.deepEqual(await store.recipientsOf('w1', ann), [sent('w1', ann, 'u:ada', t0)]);
      const refused = (path: string) => (e: unknown) => e instanceof NudgeError && e.code === 'invalid_input' && e.issues.some((i) => i.path === path);
      for (const recipient of ['', 'ada', 'u:', 'p:123']) await assert.rejects(store.recordRecipient('w1', bob, recipient, t0), refused('recipient'), recipient);
      await assert.rejects(store.recordRecipient('w1', '4155550100', 'u:ada', t0), refused('phone'));
      await assert.rejects(store.recordRecipient('w1', bob, 'u:ada', 1.5), refused('at'));
      await assert.rejects(store.recordRecipient('', bob, 'u:ada', t0), refused('workspaceId'));
      assert.deepEqual(await store.recipientsOf('w1', bob), [], 'nothing was stored');
    });

    it('exportUser and eraseUser cover the entries naming the user, on any number, and no one else’s', async (store) => {
      await store.optOut('w1', ann, t0, 'STOP');
      await store.recordRecipient('w1', ann, 'u:ada', t0);
      await store.recordRecipient('w1', ann, 'u:ben', t0 + 1);
      await store.recordRecipient('w1', bob, 'a:anon-1', t0 + 2);
      await store.recordRecipient('w1', cid, 'u:ada', t0 + 3);
      await store.recordRecipient('w2', ann, 'u:ada', t0 + 4);
      const ada = { phones: [ann], identities: ['u:ada', 'a:anon-1', 'u:ada'] };
      assert.deepEqual(await store.exportUser('w1', ada), {
        consent: [out('w1', ann, t0, 'STOP')],
        recipients: [sent('w1', cid, 'u:ada', t0 + 3), sent('w1', ann, 'u:ada', t0), sent('w1', bob, 'a:anon-1', t0 + 2)].sort((a, b) => (a.phone < b.phone ? -1 : a.phone > b.phone ? 1 : 0)),
      });
      assert.deepEqual(await store.exportUser('w1', { phones: [], identities: [] }), { consent: [], recipients: [] });

      assert.equal(await store.eraseUser('w1', ada), 4, 'one consent record and three entries');
      assert.deepEqual(await store.exportUser('w1', ada), { consent: [], recipients: [] });
      assert.deepEqual(await store.recipientsOf('w1', ann), [sent('w1', ann, 'u:ben', t0 + 1)], "another user's entry on the same number stays");
      assert.deepEqual(await store.recipientsOf('w1', cid), []);
      assert.deepEqual(await store.recipientsOf('w2', ann), [sent('w2', ann, 'u:ada', t0 + 4)], 'only in that workspace');
      assert.equal(await store.eraseUser('w1', ada), 0);
    });

    it('everything survives a reopen', async (store, opened, t) => {
      if (!store.capabilities.durable) return t.skip(`${name} is not durable: nothing survives a reopen`);
      assert.ok(opened.reopen, 'a durable backend must give reopen');
      await store.optOut('w1', ann, t0, 'STOP');
      await store.optIn('w1', bob, t0 + 1);
      await store.recordRecipient('w1', ann, 'u:ada', t0 + 2);
      const reopened = await opened.reopen();
      assert.deepEqual(await reopened.recipientsOf('w1', ann), [sent('w1', ann, 'u:ada', t0 + 2)]);
      assert.equal(await reopened.isOptedOut('w1', ann), true);
      assert.deepEqual(await records(reopened, 'w1', [ann, bob]), [inn('w1', bob, t0 + 1), out('w1', ann, t0, 'STOP')].sort((a, b) => (a.phone < b.phone ? -1 : 1)));
      assert.equal(await reopened.optOut('w1', bob, t0, 'STOP'), false, 'the times survive too');
    });
  });
}
