// What statuses and test verdicts mean, in plain words (in the page's language: the words
// are looked up when asked for, after the language is known).

import { formatDate, relativeTime, t } from './i18n.js';

/** A status's words and tone; an unknown status is shown by its name. */
export function status(name) {
  switch (name) {
    case 'connected': return { label: t('status.connected'), tone: 'good' };
    case 'disconnected': return { label: t('status.disconnected'), tone: 'neutral' };
    case 'invalid': return { label: t('status.invalid'), tone: 'bad' };
    case 'unverified': return { label: t('status.unverified'), tone: 'warn' };
    default: return { label: name, tone: 'neutral' };
  }
}

/** A verdict's tone and headline. */
function verdict(name) {
  switch (name) {
    case 'connected': return { tone: 'good', headline: t('verdict.connected') };
    case 'invalid-credential': return { tone: 'bad', headline: t('verdict.invalidCredential') };
    case 'insufficient-permission': return { tone: 'bad', headline: t('verdict.insufficientPermission') };
    case 'rate-limited': return { tone: 'warn', headline: t('verdict.rateLimited') };
    case 'provider-unavailable': return { tone: 'warn', headline: t('verdict.providerUnavailable') };
    case 'unexpected-response': return { tone: 'warn', headline: t('verdict.unexpectedResponse') };
    case 'plugin-fault': return { tone: 'warn', headline: t('verdict.pluginFault') };
    case 'no-test': return { tone: 'warn', headline: t('verdict.noTest') };
    default: return { tone: 'warn', headline: t('verdict.unknown') };
  }
}

/**
 * The outcome of a test as {tone, lines}: a headline naming the verdict (with the account for
 * a connection), then the provider's or the host's message, then any warnings.
 */
export function outcome(report) {
  const known = verdict(report.verdict);
  const lines = [];
  if (report.verdict === 'connected' && report.account_label) {
    lines.push(t('outcome.connectedTo', { account: report.account_label }));
  } else {
    // The service's words for why it failed (the same in the history and the webhooks).
    lines.push(report.failure?.summary ?? known.headline);
  }
  if (report.message) lines.push(report.message);
  if (report.failure?.next_step) lines.push(t('outcome.nextStep', { step: report.failure.next_step }));
  for (const w of report.warnings ?? []) lines.push(t('outcome.note', { note: w }));
  return { tone: known.tone, lines };
}

/**
 * A new key waiting beside the working one, in words: being tested, or waiting for the
 * user's choice after a test that could not conclude.
 */
export function pendingLines(pending) {
  const mask = pending.mask?.masked ?? null;
  if (pending.state === 'testing') {
    return [mask ? t('pending.testingMasked', { mask }) : t('pending.testing')];
  }
  const reason = pending.last_test?.failure?.summary ?? t('pending.unfinished');
  return [
    mask ? t('pending.unverifiedMasked', { mask, reason }) : t('pending.unverified', { reason }),
    t('pending.choice'),
  ];
}

/** Format warnings from a save: the key was kept, but it does not look as expected. */
export function formatWarnings(view) {
  return (view.format_warnings ?? []).map((w) => t('outcome.checkKey', { message: w.message }));
}

/** The words after a key was saved: the test's outcome (saves are tested at once), then any
 * format warnings. */
export function afterSave(view) {
  const said = view.last_test ? outcome(view.last_test) : { tone: 'good', lines: [t('outcome.saved')] };
  return { tone: said.tone, lines: [...said.lines, ...formatWarnings(view)] };
}

/** "3 hours ago", "yesterday", "just now": how long ago an RFC 3339 instant was. */
export function ago(rfc3339, now = Date.now()) {
  const then = new Date(rfc3339).getTime();
  if (Number.isNaN(then)) return t('time.unknown');
  return relativeTime(Math.round((then - now) / 1000));
}

/** "28 Nov": the day of an RFC 3339 instant, in the reader's time zone. */
export function day(rfc3339) {
  return formatDate(rfc3339, { day: 'numeric', month: 'short' }) ?? t('time.unknownDay');
}

/** "28 Nov" (or with the year) of a day given in UTC, as expiry dates are. */
function utcDay(value, withYear = false) {
  const options = withYear
    ? { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }
    : { day: 'numeric', month: 'short', timeZone: 'UTC' };
  return formatDate(value, options) ?? t('time.unknownDay');
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
      ? t('usage.stopped', { date: day(view.failing_since) })
      : t('usage.unchecked', { date: day(view.failing_since) })]
    : [];
  const parts = [
    ...failing,
    view.last_used_at ? t('usage.lastUsed', { ago: ago(view.last_used_at, now) }) : t('usage.neverUsed'),
    view.last_verified_at ? t('usage.lastVerified', { ago: ago(view.last_verified_at, now) }) : t('usage.neverVerified'),
  ];
  return parts.join(' · ');
}

/**
 * When a key expires, in words, with a tone: "Expires on 12 Jan 2027", warned in its last 14
 * days ("Expires in 3 days, on 12 Jan 2027: paste a new key before then"), and "Expired on …".
 */
export function expiryLine(expiresAt, now = Date.now()) {
  if (!expiresAt) return null;
  const at = new Date(expiresAt).getTime();
  if (Number.isNaN(at)) return null;
  const date = utcDay(at, true);
  const left = at - now;
  const aDay = 24 * 3600 * 1000;
  if (left <= 0) return { tone: 'bad', text: t('expiry.expired', { date }) };
  if (left <= 14 * aDay) {
    const days = Math.ceil(left / aDay);
    return {
      tone: 'warn',
      text: days <= 1 ? t('expiry.withinDay', { date }) : t('expiry.inDays', { count: days, date }),
    };
  }
  return { tone: 'neutral', text: t('expiry.on', { date }) };
}

/** Why a key stopped working, from an event's reason (and the service's words for it). */
function rejection(reason, failure) {
  const what = failure?.summary
    ? failure.summary.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase())
    : reason.verdict === 'insufficient-permission'
      ? t('event.lacksPermission')
      : t('event.rejected');
  if (reason.cause === 'usage-report' && reason.reported_status) {
    return t('event.rejectedInCall', { reason: what, status: String(reason.reported_status) });
  }
  if (reason.cause === 'recheck') return t('event.rejectedAtCheck', { reason: what });
  return what;
}

/**
 * One status change of the history, in words: "Stopped working on 28 Nov: the key was
 * rejected at a scheduled check", "Working again on 29 Nov", "New key saved on 28 Nov".
 */
export function eventLine(event) {
  const date = day(event.at);
  const cause = event.reason.cause;
  if (cause === 'key-saved') return t('event.keySaved', { date });
  if (cause === 'expiry' && event.reason.expiry) {
    const expiry = utcDay(event.reason.expiry.expires_at);
    switch (event.reason.expiry.stage) {
      case 'soon': return t('event.expirySoon', { date, expiry });
      case 'tomorrow': return t('event.expiryTomorrow', { date, expiry });
      case 'expired': return t('event.expired', { expiry });
      default: return t('event.expiryNotice', { date });
    }
  }
  if (cause === 'key-replaced') {
    const who = event.reason.by;
    if (event.to === 'connected') {
      return who ? t('event.replacedByPassed', { who, date }) : t('event.replacedPassed', { date });
    }
    return who ? t('event.replacedByChosen', { who, date }) : t('event.replacedChosen', { date });
  }
  switch (event.to) {
    case 'invalid': return t('event.stopped', { date, reason: rejection(event.reason, event.failure) });
    case 'connected':
      if (event.from === 'invalid') {
        if (cause === 'recheck') return t('event.workingAgainAtCheck', { date });
        if (cause === 'usage-report') return t('event.workingAgainAfterCall', { date });
        return t('event.workingAgain', { date });
      }
      if (cause === 'recheck') return t('event.verifiedAtCheck', { date });
      if (cause === 'usage-report') return t('event.verifiedAfterCall', { date });
      return t('event.verified', { date });
    case 'disconnected': return t('event.removed', { date });
    default: return t('event.waiting', { date });
  }
}
