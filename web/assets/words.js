// What statuses and test verdicts mean, in plain words.

export const STATUS = {
  connected: { label: 'Connected', tone: 'good' },
  disconnected: { label: 'Disconnected', tone: 'neutral' },
  invalid: { label: 'Invalid key', tone: 'bad' },
  unverified: { label: 'Could not verify', tone: 'warn' },
};

export function status(name) {
  return STATUS[name] ?? { label: name, tone: 'neutral' };
}

const VERDICT = {
  connected: { tone: 'good', headline: 'Connected.' },
  'invalid-credential': { tone: 'bad', headline: 'The provider rejected this key.' },
  'insufficient-permission': { tone: 'bad', headline: 'The key works but lacks a permission this integration needs.' },
  'rate-limited': { tone: 'warn', headline: 'Could not verify now: the provider is limiting requests. The key is kept; test again later.' },
  'provider-unavailable': { tone: 'warn', headline: 'Could not verify now: the provider is unavailable. The key is kept; test again later.' },
  'unexpected-response': { tone: 'warn', headline: 'Could not verify: the provider gave an answer we did not expect. The key is kept.' },
  'plugin-fault': { tone: 'warn', headline: 'Could not verify: the connection test failed to run. The key is kept.' },
  'no-test': { tone: 'warn', headline: 'Saved. This provider has no connection test, so the key could not be verified.' },
};

/**
 * The outcome of a test as {tone, lines}: a headline naming the verdict (with the account for
 * a connection), then the provider's or the host's message, then any warnings.
 */
export function outcome(report) {
  const known = VERDICT[report.verdict] ?? {
    tone: 'warn',
    headline: 'Could not verify the key. It is kept.',
  };
  const lines = [];
  if (report.verdict === 'connected' && report.account_label) {
    lines.push(`Connected to ${report.account_label}.`);
  } else {
    // The service's words for why it failed (the same in the history and the webhooks).
    lines.push(report.failure?.summary ?? known.headline);
  }
  if (report.message) lines.push(report.message);
  if (report.failure?.next_step) lines.push(`What to do: ${report.failure.next_step}`);
  for (const w of report.warnings ?? []) lines.push(`Note: ${w}`);
  return { tone: known.tone, lines };
}

/**
 * A new key waiting beside the working one, in words: being tested, or waiting for the
 * user's choice after a test that could not conclude.
 */
export function pendingLines(pending) {
  const which = pending.mask?.masked ? ` (${pending.mask.masked})` : '';
  if (pending.state === 'testing') {
    return [`Testing the new key${which}… your current key stays in use.`];
  }
  const why = pending.last_test?.failure?.summary ?? 'Its test did not finish.';
  return [
    `The new key${which} could not be verified: ${why}`,
    'Your current key stays in use. Use the new key anyway, or discard it.',
  ];
}

/** Format warnings from a save: the key was kept, but it does not look as expected. */
export function formatWarnings(view) {
  return (view.format_warnings ?? []).map((w) => `Check the key: ${w.message}`);
}

/** The words after a key was saved: the test's outcome (saves are tested at once), then any
 * format warnings. */
export function afterSave(view) {
  const said = view.last_test ? outcome(view.last_test) : { tone: 'good', lines: ['Saved.'] };
  return { tone: said.tone, lines: [...said.lines, ...formatWarnings(view)] };
}

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 hours ago", "yesterday", "just now": how long ago an RFC 3339 instant was. */
export function ago(rfc3339, now = Date.now()) {
  const then = new Date(rfc3339).getTime();
  if (Number.isNaN(then)) return 'at an unknown time';
  const seconds = Math.round((then - now) / 1000);
  if (Math.abs(seconds) < 60) return 'just now';
  const words = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return words.format(Math.trunc(seconds / size), unit);
  }
  return 'just now';
}

/** "28 Nov": the day of an RFC 3339 instant, in the reader's time zone. */
export function day(rfc3339) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return 'an unknown day';
  return d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });
}

/**
 * The usage line of an integration: "Stopped working on 28 Nov · Last used 3 hours ago ·
 * Last verified 2 days ago". A run of failures is named first: rejected ("stopped working")
 * or not checkable ("could not be checked"), since the day it began.
 */
export function usageLine(view, now = Date.now()) {
  if (view.status === 'disconnected') return null;
  const failing = view.failing_since
    ? [view.status === 'invalid'
      ? `Stopped working on ${day(view.failing_since)}`
      : `Could not be checked since ${day(view.failing_since)}`]
    : [];
  const parts = [
    ...failing,
    view.last_used_at ? `Last used ${ago(view.last_used_at, now)}` : 'Not used by an AI function yet',
    view.last_verified_at ? `Last verified ${ago(view.last_verified_at, now)}` : 'Never verified',
  ];
  return parts.join(' · ');
}

/**
 * When a key expires, in words, with a tone: "Expires on 12 Jan 2027", warned in its last 14
 * days ("Expires in 3 days, on 12 Jan: paste a new key before then"), and "Expired on …".
 */
export function expiryLine(expiresAt, now = Date.now()) {
  if (!expiresAt) return null;
  const at = new Date(expiresAt).getTime();
  if (Number.isNaN(at)) return null;
  const on = new Date(at).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
  const left = at - now;
  const day = 24 * 3600 * 1000;
  if (left <= 0) return { tone: 'bad', text: `Expired on ${on}: create a new key at the provider and paste it here.` };
  if (left <= 14 * day) {
    const days = Math.ceil(left / day);
    const when = days <= 1 ? 'within a day' : `in ${days} days`;
    return { tone: 'warn', text: `Expires ${when}, on ${on}: paste a new key before then.` };
  }
  return { tone: 'neutral', text: `Expires on ${on}.` };
}

/** Why a key stopped working, from an event's reason (and the service's words for it). */
function rejection(reason, failure) {
  const what = failure?.summary
    ? failure.summary.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase())
    : reason.verdict === 'insufficient-permission'
      ? 'the key lacks a permission the platform needs'
      : 'the key was rejected';
  if (reason.cause === 'usage-report' && reason.reported_status) {
    return `${what} (${reason.reported_status} in an AI call, confirmed by a re-test)`;
  }
  if (reason.cause === 'recheck') return `${what} at a scheduled check`;
  return what;
}

/**
 * One status change of the history, in words: "Stopped working on 28 Nov: the key was
 * rejected at a scheduled check", "Working again on 29 Nov", "New key saved on 28 Nov".
 */
export function eventLine(event) {
  const on = day(event.at);
  const by = { recheck: ' at a scheduled check', 'usage-report': ' after an AI call failed' }[event.reason.cause] ?? '';
  if (event.reason.cause === 'key-saved') return `New key saved on ${on}`;
  if (event.reason.cause === 'expiry' && event.reason.expiry) {
    const on2 = new Date(event.reason.expiry.expires_at).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
    return {
      soon: `Warned on ${on}: the key expires on ${on2}`,
      tomorrow: `Warned on ${on}: the key expires within a day, on ${on2}`,
      expired: `The key expired on ${on2}`,
    }[event.reason.expiry.stage] ?? `Expiry notice on ${on}`;
  }
  if (event.reason.cause === 'key-replaced') {
    const who = event.reason.by ? ` by ${event.reason.by}` : '';
    return event.to === 'connected'
      ? `Key replaced${who} on ${on}: the new key passed its test`
      : `Key replaced${who} on ${on}: chosen without a conclusive test`;
  }
  switch (event.to) {
    case 'invalid': return `Stopped working on ${on}: ${rejection(event.reason, event.failure)}`;
    case 'connected': return event.from === 'invalid' ? `Working again on ${on}${by}` : `Verified on ${on}${by}`;
    case 'disconnected': return `Key removed on ${on}`;
    default: return `Waiting to be verified since ${on}`;
  }
}
