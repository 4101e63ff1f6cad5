/** Consent changes: setting, removing, and a broad "off" that overrides narrower "on"s. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyConsent, consentChangesProblem } from '../../src/engine/consent.js';

test('changes set and remove keys', () => {
  assert.deepEqual(applyConsent({ push: true, 'email:marketing': true }, { push: null, sms: false }), { 'email:marketing': true, sms: false });
});

test('turning a topic or a channel off drops the narrower keys that still allowed it', () => {
  const current = { 'email:marketing': true, 'push:marketing': true, 'push:product': true, 'sms:marketing': false };
  assert.deepEqual(applyConsent(current, { marketing: false }), { 'push:product': true, 'sms:marketing': false, marketing: false });
  assert.deepEqual(applyConsent(current, { push: false }), { 'email:marketing': true, 'sms:marketing': false, push: false });
  assert.deepEqual(applyConsent(current, { 'email:marketing': false }), { ...current, 'email:marketing': false }, 'a narrow key touches nothing else');
});

test('bad change sets are named', () => {
  assert.equal(consentChangesProblem([]), 'changes: expected an object of consent keys');
  assert.equal(consentChangesProblem({}), 'changes: empty');
  assert.equal(consentChangesProblem({ 'Email Marketing': false }), 'changes.Email Marketing: expected <channel>, <topic> or <channel>:<topic> (lower case letters, digits, _)');
  assert.equal(consentChangesProblem({ email: 'no' }), 'changes.email: expected true, false or null');
  assert.equal(consentChangesProblem({ 'email:marketing': false, push: null }), null);
});
